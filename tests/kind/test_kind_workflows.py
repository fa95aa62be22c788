"""A queue's worker pods, from our image, complete workflows started from outside the cluster."""

from __future__ import annotations

from testbed.kind import KindRelease, execute_workflow, get_json

SAGA_TASK_QUEUE = "orders.saga.v1"  # the queue tests/kind/values.yaml serves
SAGA_STEPS = [
    "reserve_inventory",
    "charge_payment",
    "create_shipment",
    "send_confirmation",
    "award_loyalty_points",
]


def test_the_queues_worker_pods_run_our_image(kind_release: KindRelease) -> None:
    # The operator labels a queue's workers with the queue's name as instance.
    selector = "app.kubernetes.io/component=worker,app.kubernetes.io/instance=saga"
    pods = get_json(kind_release, "pods", "-l", selector)["items"]
    assert pods, f"no worker pods ({selector})"
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    assert images == {kind_release.image}


def test_workflows_started_from_outside_complete_on_the_worker_pods(frontend: str) -> None:
    for number in range(3):
        order = {"order_id": f"kind-{number}", "customer": "kind-tier", "amount": 10.0 + number}
        run = execute_workflow(
            frontend, task_queue=SAGA_TASK_QUEUE, workflow_type="OrderSagaWorkflow", payload=order
        )
        assert run["status"] == "COMPLETED", run
        assert run["result"]["order_id"] == order["order_id"]
        assert run["result"]["status"] == "completed"
        assert run["result"]["completed"] == SAGA_STEPS
