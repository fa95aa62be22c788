"""The kind tier: one real KIND cluster per session, brought up by `make dev-bounce` itself.

The session fixture makes sure a Docker engine answers and the egress guard is in place
(testbed/docker.py), then runs `make images` and `make dev-bounce OFFLINE=1` into a
cluster named for this run, with tests/kind/values.yaml over the dev values, and deletes
the cluster at the end. Every test talks to real pods in it. Without an engine the tier
skips with one line locally and fails under CI. The phase timings go to the terminal
summary and to test-artifacts/kind/timings.txt; what tests measure (`record_numbers`) goes
to the summary and to test-artifacts/kind/measured/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from testbed.docker import DockerEngine, ensure_docker_engine
from testbed.kind import (
    ROOT,
    KindRelease,
    PhaseTimings,
    bring_up,
    make_environment,
    new_kind_cluster_name,
    port_forward,
    release_in,
    run_make,
    service_of,
    tear_down,
)
from testbed.process import TestbedError
from tests.conftest import component_missing

HERE = Path(__file__).parent
VALUES = (ROOT / "k8s" / "kind" / "dev-values.yaml", HERE / "values.yaml")
# The first test of the tier waits for `make images`, the first on the cluster for its
# bring-up; the others get the project's usual limit, doubled for a 2-core machine.
FIRST_TEST_TIMEOUT = 3600
TEST_TIMEOUT = 600
# Modules that run after every other one of the tier, in this order: the Temporal outage
# breaks the session's port-forward to the frontend; the lifecycle tests remove the release.
LAST_MODULES = ("test_kind_temporal_down.py", "test_kind_lifecycle.py")

_timings: list[str] = []
_measurements: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [item for item in items if HERE in Path(item.path).parents]
    if not mine:
        return
    last = sorted(
        (item for item in mine if Path(item.path).name in LAST_MODULES),
        key=lambda item: LAST_MODULES.index(Path(item.path).name),
    )
    items[:] = [item for item in items if item not in last] + last
    ordered = [item for item in items if item in mine]
    # The first test builds the images; the first one on the cluster waits for its bring-up.
    slow = {id(ordered[0])}
    on_cluster = [item for item in ordered if "kind_release" in getattr(item, "fixturenames", ())]
    slow.update(id(item) for item in on_cluster[:1])
    for item in ordered:
        item.add_marker(
            pytest.mark.timeout(FIRST_TEST_TIMEOUT if id(item) in slow else TEST_TIMEOUT)
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _timings:
        terminalreporter.section("kind tier: phase timings")
        for line in _timings:
            terminalreporter.line(line)
    if _measurements:
        terminalreporter.section("kind tier: measured")
        for line in _measurements:
            terminalreporter.line(line)


def _record(title: str, timings: PhaseTimings, artifacts: Path) -> None:
    text = f"{title}\n{timings.report()}"
    _timings.append(text)
    out = artifacts / "kind" / "timings.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as handle:
        handle.write(text + "\n")


@pytest.fixture(scope="session")
def record_timings(artifacts: Path) -> Callable[[str, PhaseTimings], None]:
    """Add phase timings to the tier's summary (e.g. a second `make dev-bounce`)."""
    return lambda title, timings: _record(title, timings, artifacts)


def _measure(title: str, numbers: Mapping[str, object], artifacts: Path) -> None:
    width = max((len(name) for name in numbers), default=0)
    lines = [title, *(f"  {name:<{width}}  {value}" for name, value in numbers.items())]
    _measurements.append("\n".join(lines))
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    out = artifacts / "kind" / "measured" / f"{slug}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"title": title, **numbers}, indent=2, default=str) + "\n")


@pytest.fixture(scope="session")
def record_numbers(artifacts: Path) -> Callable[[str, Mapping[str, object]], None]:
    """Add a test's measured numbers to the tier's summary and to
    test-artifacts/kind/measured/<title>.json (tests assert behaviour; the numbers are for
    people reading the run)."""
    return lambda title, numbers: _measure(title, numbers, artifacts)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A Docker engine that answers, with the egress guard on the KIND network."""
    try:
        engine = ensure_docker_engine()
    except TestbedError as error:
        component_missing(f"no Docker engine for the kind tier: {error}")
        raise
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def kind_release(docker_engine: DockerEngine, artifacts: Path) -> Iterator[KindRelease]:
    """The chart with the dev values in a fresh KIND cluster, via `make dev-bounce`.

    QUEUEFLEET_KIND_CLUSTER names a cluster that `make dev-bounce` already brought up (with
    KUBECONFIG pointing at it) to run the tier against instead; it is neither created nor
    deleted, but the lifecycle tests do uninstall its release.
    """
    existing = os.environ.get("QUEUEFLEET_KIND_CLUSTER")
    if existing:
        kubeconfig = Path(os.environ.get("KUBECONFIG") or Path.home() / ".kube" / "config")
        yield release_in(
            artifacts / "kind" / existing, name=existing, values=VALUES, kubeconfig=kubeconfig
        )
        return
    name = new_kind_cluster_name()
    workdir = artifacts / "kind" / name
    try:
        release, timings = bring_up(workdir, name=name, values=VALUES)
    except TestbedError:
        _delete_half_made_cluster(workdir, name)
        raise
    _record(f"make images + make dev-bounce OFFLINE=1 (cluster {name})", timings, artifacts)
    try:
        yield release
    finally:
        tear_down(release)


@pytest.fixture(scope="session")
def frontend(kind_release: KindRelease) -> Iterator[str]:
    """host:port of the chart's Temporal frontend, forwarded to loopback from outside."""
    service = service_of(kind_release, "temporal", "-temporal-frontend")
    with port_forward(kind_release, service, 7233) as port:
        yield f"127.0.0.1:{port}"


def _delete_half_made_cluster(workdir: Path, name: str) -> None:
    """A failed bring-up may leave a cluster behind; `make kind-down` deletes it."""
    with contextlib.suppress(TestbedError):  # the bring-up error is the one to report
        run_make(
            "kind-down",
            f"KIND_CLUSTER={name}",
            log_path=workdir / "make.log",
            env=make_environment(workdir / "kubeconfig"),
            timeout=180,
        )
