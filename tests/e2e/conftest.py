"""End-to-end fixtures: Temporal, a control plane with the aggregation layer, KEDA, the operator.

The e2e tier gets its own kwok cluster: kube-apiserver needs the front-proxy flags for
KEDA's metrics API server, and KEDA's controller acting on every namespace (plus a
cluster-wide APIService) would change what the cluster tier's tests observe.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testbed.cluster import (
    Cluster,
    cluster_pki_dir,
    install_crds,
    keda_crds_dir,
    new_cluster_name,
    start_kwok_cluster,
    stop_kwok_cluster,
)
from testbed.keda import Keda, aggregation_extra_args, start_keda
from testbed.operator import OperatorOptions
from testbed.operator import start_operator as testbed_start_operator
from testbed.process import Process, TestbedError
from testbed.temporal import TemporalEndpoint
from tests.conftest import component_missing

REPO = Path(__file__).resolve().parents[2]
QUEUEFLEET_CRDS = REPO / "k8s" / "crd"
# Sync interval of the operator under test: how often it re-reads each queue's backlog.
OPERATOR_SYNC_SECONDS = "2"


@dataclass(frozen=True)
class EndToEnd:
    """Everything an end-to-end test talks to."""

    cluster: Cluster
    temporal: TemporalEndpoint
    keda: Keda
    artifacts: Path


@pytest.fixture(scope="session")
def e2e_cluster(artifacts: Path) -> Iterator[Cluster]:
    workdir = artifacts / "kwok-e2e"
    name = new_cluster_name()
    try:
        cluster = start_kwok_cluster(
            workdir, name=name, extra_args=aggregation_extra_args(cluster_pki_dir(workdir, name))
        )
    except TestbedError as error:
        component_missing(str(error))
        raise
    try:
        install_crds(cluster, keda_crds_dir())
        install_crds(cluster, QUEUEFLEET_CRDS)
        yield cluster
    finally:
        stop_kwok_cluster(workdir, cluster)


@pytest.fixture(scope="session")
def keda(e2e_cluster: Cluster, artifacts: Path) -> Iterator[Keda]:
    try:
        started = start_keda(e2e_cluster, artifacts / "keda")
    except TestbedError as error:
        component_missing(str(error))
        raise
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def e2e(e2e_cluster: Cluster, temporal: TemporalEndpoint, keda: Keda, artifacts: Path) -> EndToEnd:
    return EndToEnd(cluster=e2e_cluster, temporal=temporal, keda=keda, artifacts=artifacts)


@pytest.fixture
def e2e_namespace(e2e: EndToEnd) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    e2e.cluster.kubectl("create", "namespace", name)
    yield name
    e2e.cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


@pytest.fixture
def queuefleet_operator(e2e: EndToEnd, e2e_namespace: str) -> Iterator[Process]:
    """Our operator as its CLI runs it, watching this test's namespace, pointed at Temporal."""
    process = start_operator(e2e, e2e_namespace)
    yield process
    process.stop()


def start_operator(e2e: EndToEnd, namespace: str) -> Process:
    options = OperatorOptions(
        namespace=namespace,
        temporal_address=e2e.temporal.address,
        temporal_namespace=e2e.temporal.namespace,
        temporal_timeout=2,
        worker_image="registry.invalid/queuefleet-worker:e2e",
        sync_interval=float(OPERATOR_SYNC_SECONDS),
    )
    process, _ = testbed_start_operator(
        e2e.cluster, options, log_path=e2e.artifacts / "e2e-operator" / f"{namespace}.log"
    )
    return process
