"""The WorkflowQueue CRD as the API server enforces it: defaults, validation, explain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed.cluster import Cluster

HERE = Path(__file__).parent
INVALID = sorted((HERE / "invalid").glob("*.yaml"))
SAMPLES = sorted((HERE.parents[2] / "k8s" / "samples").glob("*.yaml"))


def expected_fragment(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: <field>'"
    return first.removeprefix("# expect: ")


def test_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 25


@pytest.mark.parametrize("manifest", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_manifest_is_rejected_naming_the_field(
    queuefleet_crds: Cluster, namespace: str, manifest: Path
) -> None:
    result = queuefleet_crds.kubectl(
        "-n", namespace, "create", "--validate=strict", "-f", str(manifest), check=False
    )
    assert result.returncode != 0, f"{manifest.name} was accepted: {result.stdout}"
    assert expected_fragment(manifest) in result.stderr, result.stderr


@pytest.mark.parametrize("manifest", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_samples_are_accepted(queuefleet_crds: Cluster, namespace: str, manifest: Path) -> None:
    queuefleet_crds.kubectl("-n", namespace, "create", "--validate=strict", "-f", str(manifest))


def test_defaults_are_filled_in(queuefleet_crds: Cluster, namespace: str) -> None:
    manifest = "apiVersion: queuefleet.dev/v1alpha1\nkind: WorkflowQueue\n"
    manifest += "metadata: {name: d}\nspec: {taskQueue: d}\n"
    queuefleet_crds.kubectl("-n", namespace, "create", "-f", "-", stdin=manifest)
    spec = json.loads(
        queuefleet_crds.kubectl("-n", namespace, "get", "wfq", "d", "-o", "json").stdout
    )["spec"]
    assert spec["scaling"]["minReplicas"] == 1
    assert spec["scaling"]["maxReplicas"] == 10
    assert spec["scaling"]["queueTypes"] == ["workflow", "activity"]
    assert spec["worker"]["gracefulShutdownSeconds"] == 30
    assert spec["paused"] is False


@pytest.mark.parametrize(
    "field",
    [
        "spec.taskQueue",
        "spec.temporal.tls.secretName",
        "spec.scaling.activationBacklog",
        "status.backlog",
    ],
)
def test_explain_describes_fields(queuefleet_crds: Cluster, field: str) -> None:
    out = queuefleet_crds.kubectl("explain", f"workflowqueues.{field}").stdout
    description = out.split("DESCRIPTION:", 1)[1].strip()
    assert len(description) > 20, out
