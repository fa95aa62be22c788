"""The benchmark's floor applies what the operator applies, where no operator looks."""

from __future__ import annotations

from queuefleet_operator.config import OperatorConfig

from bench.operator.floor import FLOOR_NAMESPACE, children_of
from bench.operator.run import WORKER_IMAGE, queue_list


def test_the_floor_applies_the_operators_children_without_an_owner() -> None:
    config = OperatorConfig(temporal_address="127.0.0.1:7233", worker_image=WORKER_IMAGE)
    [queue] = queue_list(1)["items"]
    children = children_of(queue, config)
    assert {c["kind"] for c in children} == {"Deployment", "ScaledObject", "PodDisruptionBudget"}
    for child in children:
        assert child["metadata"]["namespace"] == FLOOR_NAMESPACE
        assert "ownerReferences" not in child["metadata"]  # no owner: the GC leaves it be
    [deployment] = [c for c in children if c["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == WORKER_IMAGE
