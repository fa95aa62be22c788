"""A value only the cluster can refuse: the queue's status names the field and the reason."""

from __future__ import annotations

from pathlib import Path

from testbed.cluster import Cluster
from tests.cluster.operator.conftest import apply_queue, condition, eventually, start_operator


def test_a_missing_service_account_is_named_in_the_status(
    queuefleet_crds: Cluster, namespace: str, artifacts: Path
) -> None:
    kube = queuefleet_crds
    operator = start_operator(kube, namespace, artifacts)
    try:
        apply_queue(kube, namespace, "lost", worker={"serviceAccountName": "nobody"})
        available = eventually(
            lambda: (
                (c := condition(kube, namespace, "lost", "Available"))
                and c.get("reason") == "PodsRejected"
                and c
            ),
            what="Available=False for PodsRejected",
        )
        assert available["status"] == "False"
        assert available["message"].startswith("spec.worker.serviceAccountName: ")
        assert "nobody" in available["message"]
        ready = condition(kube, namespace, "lost", "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "WorkersUnavailable")
        assert "spec.worker.serviceAccountName" in ready["message"]
    finally:
        operator.stop()
