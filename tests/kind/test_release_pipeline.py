"""The release workflow's steps that can run here, against an OCI registry on loopback.

.github/workflows/release.yml builds the image with buildx and pushes it to ghcr.io, then
runs hack/release.py to pin the pushed digest into the chart, package it and push it as
an OCI artifact. Here the image is the one `make images` builds from the same Dockerfile,
the registry is go-containerregistry's (in memory, on 127.0.0.1 only), and
the chart is pulled back by digest-free reference the way users install it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testbed.docker import DockerEngine
from testbed.kind import ROOT, build_images
from testbed.process import Process, free_port, port_open
from tests.conftest import component_missing
from tests.kind.test_images import docker

RELEASE = [sys.executable, str(ROOT / "hack" / "release.py")]
VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)


def run(*argv: str, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        list(argv), cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def queuefleet_image(docker_engine: DockerEngine, artifacts: Path) -> str:
    """The queuefleet image from the Dockerfile, as `make images` builds it (cached tags)."""
    log = artifacts / "kind" / "release-images-make.log"
    return build_images("queuefleet", log_path=log)["queuefleet"]


@pytest.fixture(scope="module")
def registry(queuefleet_image: str, artifacts: Path) -> Iterator[str]:
    """host:port of an empty, in-memory OCI registry; it listens on 127.0.0.1 only."""
    binary = shutil.which("registry")
    if binary is None:
        component_missing("go-containerregistry's registry not on PATH; `make tools` builds it")
    port = free_port()
    process = Process.start(
        "registry", [binary, "-port", str(port)], log_path=artifacts / "kind" / "registry.log"
    )
    try:
        process.wait_until(lambda: port_open(port), timeout=30, what="the registry's port")
        yield f"127.0.0.1:{port}"
    finally:
        process.stop()


def test_release_pins_the_pushed_digest_and_publishes_a_chart_that_runs_it(
    queuefleet_image: str, registry: str, tmp_path: Path
) -> None:
    assert VERSION is not None
    version = VERSION.group(1)
    crane = shutil.which("crane")
    if crane is None:
        component_missing("crane not on PATH; `make tools` builds it")
    assert run(*RELEASE, "version", f"v{version}").strip() == version

    # The image, pushed by tag; the registry's manifest digest is what the chart pins.
    repository = f"{registry}/queuefleet/queuefleet"
    pushed = f"{repository}:{version}"
    docker("tag", queuefleet_image, pushed)
    try:
        docker("push", pushed, timeout=600)
    finally:
        docker("image", "rm", pushed, check=False)
    digest = run(crane, "digest", "--insecure", pushed).strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), digest

    charts = tmp_path / "charts"
    shutil.copytree(ROOT / "charts", charts)
    run(*RELEASE, "--charts", str(charts), "pin", "--version", version,
        "--repository", repository, "--digest", digest)  # fmt: skip
    packages = run(*RELEASE, "--charts", str(charts), "package", "--out", str(tmp_path / "dist"))
    paths = packages.split()
    assert [Path(p).name for p in paths] == [
        f"queuefleet-{version}.tgz",
        f"queuefleet-crds-{version}.tgz",
    ]
    run(*RELEASE, "push", "--registry", f"oci://{registry}/queuefleet/charts", "--plain-http",
        *paths)  # fmt: skip

    # A user's install: the chart from the registry, rendered; every queuefleet image in it
    # is the pushed image by digest, and that digest resolves in the registry.
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    run("helm", "pull", f"oci://{registry}/queuefleet/charts/queuefleet", "--version", version,
        "--plain-http", "--destination", str(pulled))  # fmt: skip
    with tarfile.open(pulled / f"queuefleet-{version}.tgz") as archive:
        chart_yaml = yaml.safe_load(archive.extractfile("queuefleet/Chart.yaml").read())  # type: ignore[union-attr]
    assert (chart_yaml["version"], chart_yaml["appVersion"]) == (version, version)
    rendered = run("helm", "template", "qf", str(pulled / f"queuefleet-{version}.tgz"),
                   "--set", "queues[0].name=orders")  # fmt: skip
    refs = set(re.findall(r"[\w.:/-]*queuefleet/queuefleet[@:][\w:]+", rendered))
    assert refs == {f"{repository}@{digest}"}, refs
    manifest = run(crane, "manifest", "--insecure", f"{repository}@{digest}")
    assert '"layers"' in manifest or '"manifests"' in manifest
