"""hack/images.sh: every recipe is known to the driver, every version comes from the
Makefile, and bad input stops with one line naming what is wrong."""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
from pathlib import Path

from tests.unit.devloop.makefile import plan

ROOT = Path(__file__).resolve().parents[3]
DRIVER = ROOT / "hack/images.sh"


def driver(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(DRIVER), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **(env or {})},
    )


def required_versions() -> list[str]:
    body = DRIVER.read_text().split("need_versions() {", 1)[1].split("\n}", 1)[0]
    return re.findall(r"\b[A-Z][A-Z0-9_]+\b", body.replace("require", ""))


@functools.cache
def build_command() -> str:
    commands = plan("images", "IMAGES=etcd")
    return next(c for c in commands if "hack/images.sh build" in c)


def makefile_versions() -> dict[str, str]:
    """The NAME=value assignments `make images` puts before the driver."""
    words = shlex.split(build_command().split("hack/images.sh", 1)[0])
    return dict(word.split("=", 1) for word in words if "=" in word)


def all_images() -> list[str]:
    body = DRIVER.read_text().split("ALL_IMAGES=(", 1)[1].split(")", 1)[0]
    return body.split()


def test_every_recipe_folder_is_an_image_of_the_driver_and_back() -> None:
    folders = sorted(p.name for p in (ROOT / "images").iterdir() if p.is_dir())
    assert sorted(all_images()) == folders
    for name in folders:
        assert (ROOT / "images" / name / "build.sh").is_file(), f"images/{name} has no build.sh"


def test_make_images_passes_every_version_the_driver_needs_and_none_is_empty() -> None:
    assert build_command().endswith("hack/images.sh build etcd")
    versions = makefile_versions()
    for name in required_versions():
        assert versions.get(name), f"make images does not pass {name} (or passes it empty)"


def test_tag_encodes_the_pinned_version() -> None:
    env = makefile_versions()
    result = driver("tag", "etcd", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"registry.k8s.io/etcd:{env['ETCD_VERSION'].lstrip('v')}-0"
    result = driver("tags", "pause", env=env)
    assert result.stdout.split() == [
        f"registry.k8s.io/pause:{env['PAUSE_VERSION']}",
        f"registry.k8s.io/pause:{env['PAUSE_VERSION'].rsplit('.', 1)[0]}",
    ]


def test_a_missing_version_is_named_in_one_line() -> None:
    env = makefile_versions()
    del env["COREDNS_VERSION"]
    result = driver("tag", "etcd", env=env)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "COREDNS_VERSION is not set" in result.stderr


def test_an_unknown_image_is_refused_with_the_known_names() -> None:
    env = makefile_versions()
    result = driver("build", "no-such-image", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "unknown image 'no-such-image'; known: debian python" in result.stderr


def test_usage_without_a_command() -> None:
    result = driver()
    assert result.returncode == 2
    assert "usage: hack/images.sh" in result.stderr
