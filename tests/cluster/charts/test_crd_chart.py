"""The CRD upgrade path: charts/queuefleet-crds adopts the CRDs a first install created.

Helm creates a chart's crds/ folder on install and never touches it again, so a new
CRD schema never reaches a cluster by `helm upgrade queuefleet`. The CRD chart templates
the same CRDs. This walks the documented path (charts/queuefleet/README.md, "Upgrading
the CRDs") on a private control plane, with a WorkflowQueue that must survive it: CRDs as
crds/ made them, adoption by the documented label and annotations, an upgrade that
changes the schema, and an uninstall that keeps the CRDs.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testbed.cluster import Cluster, start_kwok_cluster, stop_kwok_cluster
from testbed.process import TestbedError
from tests.conftest import component_missing
from tests.unit.charts.helmchart import CHART, run_helm

CRD_CHART = CHART.parent / "queuefleet-crds"
RELEASE, NAMESPACE = "queuefleet-crds", "queuefleet-system"
SELECTOR = "app.kubernetes.io/part-of=queuefleet"
WORKFLOWQUEUES = "workflowqueues.queuefleet.dev"


@pytest.fixture(scope="module")
def private_cluster(artifacts: Path) -> Iterator[Cluster]:
    """CRDs are cluster-wide: this test changes them, so it gets a control plane of its own."""
    if os.environ.get("QUEUEFLEET_KUBECONFIG"):
        component_missing("QUEUEFLEET_KUBECONFIG names an external cluster; this test needs a "
                          "private kwok cluster whose CRDs it may replace")  # fmt: skip
    workdir = artifacts / "kwok-crd-chart"
    try:
        cluster = start_kwok_cluster(workdir)
    except TestbedError as error:
        component_missing(str(error))
        raise
    try:
        yield cluster
    finally:
        stop_kwok_cluster(workdir, cluster)


def helm(cluster: Cluster, home: Path, *args: str, check: bool = True) -> str:
    result = run_helm("helm", *args, home=home, kubeconfig=cluster.kubeconfig)
    assert not check or result.returncode == 0, f"helm {args[0]} failed: {result.stderr}"
    return result.stdout + result.stderr


def crd(cluster: Cluster, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(cluster.kubectl("get", "crd", name, "-o", "json").stdout)


def spec_properties(found: dict) -> dict:  # type: ignore[type-arg]
    version = next(v for v in found["spec"]["versions"] if v.get("storage"))
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


def test_crd_chart_adopts_upgrades_and_keeps_the_crds(
    private_cluster: Cluster, tmp_path: Path
) -> None:
    cluster, home = private_cluster, tmp_path / "helm"
    # A first install of the queuefleet chart: Helm creates crds/ as plain objects (the CRD
    # chart's files are the same bytes, hack/chart-sync.py keeps them so).
    first = CRD_CHART / "files"
    cluster.kubectl("create", "-f", str(first))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(first),
                    timeout=90)  # fmt: skip
    cluster.kubectl("create", "namespace", "team")
    queue = {
        "apiVersion": "queuefleet.dev/v1alpha1",
        "kind": "WorkflowQueue",
        "metadata": {"name": "orders", "namespace": "team"},
        "spec": {"taskQueue": "orders"},
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(queue))
    cluster.kubectl("create", "namespace", NAMESPACE)

    # Without adoption Helm refuses objects it did not create: the documented reason to adopt.
    refused = helm(cluster, home, "install", RELEASE, str(CRD_CHART), "-n", NAMESPACE,
                   check=False)  # fmt: skip
    assert "invalid ownership metadata" in refused, refused

    # The adoption, exactly as the chart README has it.
    cluster.kubectl("label", "crd", "-l", SELECTOR, "app.kubernetes.io/managed-by=Helm",
                    "--overwrite")  # fmt: skip
    cluster.kubectl("annotate", "crd", "-l", SELECTOR, f"meta.helm.sh/release-name={RELEASE}",
                    f"meta.helm.sh/release-namespace={NAMESPACE}", "--overwrite")  # fmt: skip
    helm(cluster, home, "install", RELEASE, str(CRD_CHART), "-n", NAMESPACE, "--wait")
    adopted = crd(cluster, WORKFLOWQUEUES)
    assert adopted["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"

    # The next release's CRD: a new spec field. `helm upgrade` of the CRD chart delivers it.
    newer = tmp_path / "queuefleet-crds"
    shutil.copytree(CRD_CHART, newer)
    source = newer / "files" / f"{WORKFLOWQUEUES}.yaml"
    document = yaml.safe_load(source.read_text())
    storage = next(v for v in document["spec"]["versions"] if v.get("storage"))
    storage["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["upgradeProbe"] = {
        "type": "string",
        "description": "Only in this test: a field the next release adds.",
    }
    source.write_text(yaml.safe_dump(document, sort_keys=False))
    helm(cluster, home, "upgrade", RELEASE, str(newer), "-n", NAMESPACE, "--wait")
    assert "upgradeProbe" in spec_properties(crd(cluster, WORKFLOWQUEUES))
    queue["spec"]["upgradeProbe"] = "accepted"  # type: ignore[index]
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(queue))
    stored = cluster.kubectl("-n", "team", "get", "workflowqueue", "orders", "-o", "json")
    assert json.loads(stored.stdout)["spec"]["upgradeProbe"] == "accepted"

    # Uninstalling the CRD chart must not delete every WorkflowQueue with their CRD.
    helm(cluster, home, "uninstall", RELEASE, "-n", NAMESPACE, "--wait")
    assert crd(cluster, WORKFLOWQUEUES)["metadata"]["name"] == WORKFLOWQUEUES
    cluster.kubectl("-n", "team", "get", "workflowqueue", "orders")
