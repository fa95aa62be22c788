"""hack/release.py's checks: what the release workflow refuses before it pushes anything."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
RELEASE = [sys.executable, str(ROOT / "hack" / "release.py")]
DIGEST = "sha256:" + "0123456789abcdef" * 4


def release(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RELEASE, *args], capture_output=True, text=True, timeout=60, check=False
    )


def project_version() -> str:
    for line in (ROOT / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise AssertionError("no version in pyproject.toml")


def test_a_tag_gives_the_project_version() -> None:
    version = project_version()
    assert release("version", f"v{version}").stdout.strip() == version
    assert release("version", f"refs/tags/v{version}").stdout.strip() == version


@pytest.mark.parametrize(
    ("tag", "says"),
    [
        ("v99.0.0", "pyproject.toml says"),
        ("latest", "is not v<major>"),
        ("v1.2", "is not v<major>"),
    ],
)
def test_a_tag_that_cannot_be_released_is_one_line_and_exit_1(tag: str, says: str) -> None:
    result = release("version", tag)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert says in result.stderr


def test_pin_writes_version_and_digest_and_keeps_the_comments(tmp_path: Path) -> None:
    charts = tmp_path / "charts"
    shutil.copytree(ROOT / "charts", charts)
    before = (charts / "queuefleet" / "values.yaml").read_text()
    repository = "registry.example/team/queuefleet"
    result = release("--charts", str(charts), "pin", "--version", "1.2.3",
                     "--repository", repository, "--digest", DIGEST)  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("queuefleet", "queuefleet-crds"):
        chart = yaml.safe_load((charts / name / "Chart.yaml").read_text())
        assert (chart["version"], chart["appVersion"]) == ("1.2.3", "1.2.3")
    after = (charts / "queuefleet" / "values.yaml").read_text()
    values = yaml.safe_load(after)
    assert values["image"]["repository"] == repository
    assert values["image"]["digest"] == DIGEST
    # Only those two lines change: comments (the chart README's source) survive.
    lines = list(zip(before.splitlines(), after.splitlines(), strict=True))
    assert len([old for old, new in lines if old != new]) == 2


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--digest", "sha256:abc", "is not sha256:<64 hex digits>"),
        ("--digest", "latest", "is not sha256"),
        ("--repository", "ghcr.io/queuefleet/queuefleet:0.1.0", "without tag or digest"),
        ("--repository", "Ghcr.io/Upper", "without tag or digest"),
        ("--version", "1.2", "is not <major>"),
    ],
)
def test_pin_refuses_what_the_chart_could_not_pull(
    tmp_path: Path, flag: str, value: str, says: str
) -> None:
    charts = tmp_path / "charts"
    shutil.copytree(ROOT / "charts", charts)
    args = {
        "--version": "1.2.3",
        "--repository": "ghcr.io/queuefleet/queuefleet",
        "--digest": DIGEST,
    }
    args[flag] = value
    flat = [item for pair in args.items() for item in pair]
    result = release("--charts", str(charts), "pin", *flat)
    assert result.returncode == 1
    assert says in result.stderr
    assert (charts / "queuefleet" / "values.yaml").read_text() == (
        ROOT / "charts" / "queuefleet" / "values.yaml"
    ).read_text()
