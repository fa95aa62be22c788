"""KEDA arriving: the operator lets go of spec.replicas without the count dropping to 1."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from queuefleet_operator import constants
from queuefleet_operator.config import OperatorConfig
from queuefleet_operator.observed import Observed, child_snapshot
from queuefleet_operator.planner import Plan, plan_from_body

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CONFIG = OperatorConfig(temporal_address="temporal:7233", worker_image="acme/worker:1")
BODY = {
    "apiVersion": constants.API_VERSION,
    "kind": constants.KIND,
    "metadata": {"namespace": "ns", "name": "orders", "uid": "u-1", "generation": 1},
    "spec": {"taskQueue": "orders-tq", "scaling": {"minReplicas": 3, "maxReplicas": 6}},
}


def managed_fields(manager: str, spec_fields: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "manager": manager,
            "operation": "Apply",
            "fieldsV1": {"f:metadata": {"f:labels": {}}, "f:spec": spec_fields},
        }
    ]


def plan_with_live_deployment(*, keda: bool, managed: list[dict[str, Any]]) -> Plan:
    """Plan against a Deployment that runs 3 replicas, owned as `managed` says."""
    first = plan_from_body(BODY, CONFIG, Observed(now=NOW, keda_installed=False))[1]
    deployment = dict(first.desired[constants.DEPLOYMENT.kind])
    live = {
        **deployment,
        "metadata": {**deployment["metadata"], "generation": 1, "managedFields": managed},
        "spec": {**deployment["spec"], "replicas": 3},
    }
    observed = Observed(
        now=NOW,
        keda_installed=keda,
        children={constants.DEPLOYMENT.kind: child_snapshot(live)},
    )
    return plan_from_body(BODY, CONFIG, observed)[1]


def test_keda_arriving_hands_the_running_count_over_first() -> None:
    owned = managed_fields(constants.FIELD_MANAGER, {"f:replicas": {}, "f:template": {}})
    result = plan_with_live_deployment(keda=True, managed=owned)
    assert result.hand_over == (
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "orders-worker", "namespace": "ns"},
            "spec": {"replicas": 3},
        },
    )
    deployment = result.desired[constants.DEPLOYMENT.kind]
    assert "replicas" not in deployment["spec"]
    assert deployment in result.apply


@pytest.mark.parametrize(
    ("keda", "managed"),
    [
        pytest.param(
            False,
            managed_fields(constants.FIELD_MANAGER, {"f:replicas": {}}),
            id="no-keda-operator-keeps-the-count",
        ),
        pytest.param(
            True,
            managed_fields(constants.FIELD_MANAGER, {"f:template": {}}),
            id="already-released",
        ),
        pytest.param(
            True,
            managed_fields(constants.REPLICAS_HANDOFF_MANAGER, {"f:replicas": {}}),
            id="hand-off-done",
        ),
    ],
)
def test_no_hand_over_when_there_is_nothing_to_hand(
    keda: bool, managed: list[dict[str, Any]]
) -> None:
    assert plan_with_live_deployment(keda=keda, managed=managed).hand_over == ()
