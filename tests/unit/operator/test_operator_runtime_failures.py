"""Values that fail only when pods start: the status names the field and the reason."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from queuefleet_operator.conditions import Reason
from queuefleet_operator.observed import child_snapshot, worker_failure

from tests.unit.operator.test_operator_planner import (
    body,
    conditions,
    converged,
    converged_bodies,
    run,
)


def crash_looping_pod(message: str, reason: str = "CrashLoopBackOff") -> dict[str, Any]:
    return {
        "metadata": {"name": "orders-worker-abc", "namespace": "ns"},
        "status": {
            "containerStatuses": [
                {
                    "name": "worker",
                    "state": {"waiting": {"reason": reason, "message": "back-off 40s"}},
                    "lastState": {"terminated": {"exitCode": 2, "message": message}},
                }
            ]
        },
    }


def unavailable(spec_body: dict[str, Any], **deployment_status: Any) -> Any:
    """The converged state with the Deployment's pods not available."""
    bodies = converged_bodies(spec_body)
    status = bodies["Deployment"]["status"]
    status.update(readyReplicas=0, **deployment_status)
    status["conditions"] = [
        {"type": "Available", "status": "False", "message": "Deployment does not have minimum"},
        *deployment_status.get("conditions", []),
    ]
    state = converged(spec_body)
    return replace(
        state, children={**state.children, "Deployment": child_snapshot(bodies["Deployment"])}
    )


@pytest.mark.parametrize(
    ("spec", "said", "field"),
    [
        pytest.param(
            {"worker": {"env": [{"name": "QUEUEFLEET_TUNER", "value": "bogus"}]}},
            "queuefleet worker: error: QUEUEFLEET_TUNER must be one of fixed, resource-based",
            "spec.worker.env[QUEUEFLEET_TUNER]",
            id="extra-env-the-worker-refuses",
        ),
        pytest.param(
            {"worker": {"registrars": ["acme.orders:gone"]}},
            "queuefleet worker: error: QUEUEFLEET_REGISTRARS: cannot import acme.orders",
            "spec.worker.registrars",
            id="registrar-missing-from-the-image",
        ),
    ],
)
def test_a_crash_looping_worker_names_the_field(
    spec: dict[str, Any], said: str, field: str
) -> None:
    spec_body = body(**spec)
    failure = worker_failure(crash_looping_pod(said))
    assert failure is not None
    state = replace(unavailable(spec_body), worker_failure=failure)
    ready = conditions(run(spec_body, state))["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", Reason.WORKERS_FAILING)
    assert ready["message"].startswith(f"{field}: worker pod orders-worker-abc: CrashLoopBackOff")
    assert said in ready["message"]


def test_an_image_that_cannot_be_pulled_names_the_image_field() -> None:
    failure = worker_failure(crash_looping_pod("", reason="ImagePullBackOff"))
    assert failure is not None
    state = replace(unavailable(body()), worker_failure=failure)
    assert conditions(run(body(), state))["Ready"]["message"].startswith("spec.worker.image: ")


def test_pods_the_api_server_refuses_name_the_field() -> None:
    refused = {
        "type": "ReplicaFailure",
        "status": "True",
        "reason": "FailedCreate",
        "message": 'pods "orders-worker-1" is forbidden: error looking up service account '
        'ns/robot: serviceaccount "robot" not found',
    }
    spec_body = body(worker={"serviceAccountName": "robot"})
    cond = conditions(run(spec_body, unavailable(spec_body, conditions=[refused])))
    assert (cond["Available"]["status"], cond["Available"]["reason"]) == (
        "False",
        Reason.PODS_REJECTED,
    )
    assert cond["Available"]["message"].startswith("spec.worker.serviceAccountName: ")
    assert cond["Ready"]["reason"] == Reason.WORKERS_UNAVAILABLE
    assert 'serviceaccount "robot" not found' in cond["Ready"]["message"]


def test_a_healthy_or_running_container_is_no_failure() -> None:
    running = crash_looping_pod("x")
    running["status"]["containerStatuses"][0]["state"] = {"running": {}}
    assert worker_failure(running) is None
