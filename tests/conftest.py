"""Session fixtures that start the real components; a test's tier is the folder it lives in.

tests/unit      no processes
tests/temporal  the Temporal dev server (and Prometheus scraping it)
tests/cluster   the kwok control plane (or any cluster named by QUEUEFLEET_KUBECONFIG)
tests/e2e       Temporal, the control plane and the operator together
tests/kind      a real KIND cluster in Docker, brought up by `make dev-bounce` (offline layer)

When CI is set, a component that cannot be found fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from testbed.cluster import (
    Cluster,
    external_cluster,
    install_crds,
    keda_crds_dir,
    start_kwok_cluster,
    stop_kwok_cluster,
)
from testbed.postgres import PostgresEndpoint, start_postgres
from testbed.process import TestbedError, artifacts_dir
from testbed.prometheus import PrometheusEndpoint, start_prometheus
from testbed.temporal import TemporalEndpoint, start_temporal

TIERS = ("unit", "temporal", "cluster", "e2e", "kind")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_root = Path(__file__).parent
    for item in items:
        tier = Path(item.path).relative_to(tests_root).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(
                f"{item.nodeid}: tests live in one of tests/{{{','.join(TIERS)}}}/"
            )
        item.add_marker(getattr(pytest.mark, tier))


def component_missing(reason: str) -> None:
    """Skip locally, fail under CI: a missing component must never pass silently there."""
    if os.environ.get("CI"):
        pytest.fail(f"component missing under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    return artifacts_dir()


@pytest.fixture(scope="session")
def temporal(artifacts: Path) -> Iterator[TemporalEndpoint]:
    """A real Temporal dev server for the whole session (or QUEUEFLEET_TEMPORAL_ADDRESS)."""
    external = os.environ.get("QUEUEFLEET_TEMPORAL_ADDRESS")
    if external:
        yield TemporalEndpoint(
            address=external,
            namespace=os.environ.get("QUEUEFLEET_TEMPORAL_NAMESPACE", "default"),
            ui_url="",
            metrics_url=os.environ.get("QUEUEFLEET_TEMPORAL_METRICS_URL", ""),
        )
        return
    try:
        process, endpoint = start_temporal(artifacts / "temporal")
    except TestbedError as error:
        component_missing(str(error))
        raise  # unreachable: component_missing always raises
    try:
        yield endpoint
    finally:
        process.stop()


@pytest.fixture(scope="session")
async def temporal_client(temporal: TemporalEndpoint) -> Client:
    return await Client.connect(temporal.address, namespace=temporal.namespace)


@pytest.fixture
def task_queue() -> str:
    """A fresh task queue per test, so tests never pick up each other's tasks."""
    return f"test-{uuid.uuid4()}"


@pytest.fixture(scope="session")
def kube(artifacts: Path) -> Iterator[Cluster]:
    """A real control plane with kwok's fake nodes and KEDA's CRDs (or QUEUEFLEET_KUBECONFIG)."""
    workdir = artifacts / "kwok"
    try:
        cluster = external_cluster() or start_kwok_cluster(workdir)
        install_crds(cluster, keda_crds_dir())
    except TestbedError as error:
        component_missing(str(error))
        raise
    try:
        yield cluster
    finally:
        stop_kwok_cluster(workdir, cluster)


@pytest.fixture
def namespace(kube: Cluster) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting for finalization)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


@pytest.fixture(scope="session")
def prometheus(artifacts: Path, temporal: TemporalEndpoint) -> Iterator[PrometheusEndpoint]:
    """A real Prometheus scraping the Temporal dev server every second."""
    targets = {"temporal": [temporal.metrics_url]} if temporal.metrics_url else {}
    try:
        process, endpoint = start_prometheus(artifacts / "prometheus", targets)
    except TestbedError as error:
        component_missing(str(error))
        raise
    try:
        yield endpoint
    finally:
        process.stop()


@pytest.fixture(scope="session")
def postgres(artifacts: Path) -> Iterator[PostgresEndpoint]:
    """A real PostgreSQL server for the whole session; tests create their own databases in it."""
    try:
        server = start_postgres(artifacts / "postgres")
    except TestbedError as error:
        component_missing(str(error))
        raise
    try:
        yield server.endpoint
    finally:
        server.stop()
