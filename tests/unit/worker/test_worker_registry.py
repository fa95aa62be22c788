"""The registry: loading registrars by reference and assembling one task queue's worker."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from queuefleet_worker.registry import (
    Contribution,
    RegistrarContext,
    RegistryError,
    assemble,
    discover,
    serving,
)


def workflow_a() -> None: ...
def workflow_b() -> None: ...
def activity_a() -> None: ...
def activity_b() -> None: ...


@dataclass
class FakeRegistrar:
    """A plain registrar (no Temporal involved) that records what it was given."""

    task_queue: str
    contribution: Contribution
    seen: list[RegistrarContext] = field(default_factory=list)

    def register(self, context: RegistrarContext) -> Contribution:
        self.seen.append(context)
        return self.contribution


class NoArgRegistrar:
    task_queue = "from-class"

    def register(self, context: RegistrarContext) -> Contribution:
        return Contribution()


not_a_registrar = object()
instance = NoArgRegistrar()


def context(queue: str) -> RegistrarContext:
    return RegistrarContext(task_queue=queue, namespace="default", environ={"KEY": "value"})


def test_assemble_uses_only_the_registrars_for_the_queue() -> None:
    orders = FakeRegistrar("orders", Contribution(workflows=[workflow_a], activities=[activity_a]))
    more = FakeRegistrar(
        "orders", Contribution(workflows=[workflow_a, workflow_b], activities=[activity_b])
    )
    billing = FakeRegistrar("billing", Contribution(workflows=[workflow_b]))
    result = assemble([orders, billing, more], context("orders"))
    assert result.workflows == (workflow_a, workflow_b)  # shared workflows appear once
    assert result.activities == (activity_a, activity_b)
    assert billing.seen == []
    assert orders.seen[0].environ == {"KEY": "value"}  # dependencies are injected


def test_an_unserved_queue_names_the_known_queues() -> None:
    registrars = [FakeRegistrar("orders", Contribution()), FakeRegistrar("billing", Contribution())]
    with pytest.raises(RegistryError, match="'shipping'; known task queues: billing, orders"):
        serving(registrars, "shipping")
    with pytest.raises(RegistryError, match="known task queues: none"):
        assemble([], context("shipping"))


def test_references_load_classes_and_instances() -> None:
    module = __name__
    found = discover([f"{module}:NoArgRegistrar", f" {module}:instance ", ""])
    assert [r.task_queue for r in found] == ["from-class", "from-class"]
    assert found[1] is instance


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("no-colon", "must look like 'module:attribute'"),
        ("not_a_module_xyz:thing", "cannot load registrar 'not_a_module_xyz:thing'"),
        (f"{__name__}:missing", "cannot load registrar"),
        (f"{__name__}:not_a_registrar", "is not a registrar: it needs a 'task_queue'"),
    ],
)
def test_bad_references_say_what_is_wrong(reference: str, expected: str) -> None:
    with pytest.raises(RegistryError, match=expected):
        discover([reference])


class NeedsArguments:
    task_queue = "needs-arguments"

    def __init__(self, connection: str) -> None:
        self.connection = connection

    def register(self, context: RegistrarContext) -> Contribution:
        return Contribution()


@dataclass(frozen=True)
class NumberedQueue:
    task_queue: int = 7

    def register(self, context: RegistrarContext) -> Contribution:
        return Contribution()


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (f"{__name__}:NeedsArguments", "is a class that cannot be created without arguments"),
        (f"{__name__}:NumberedQueue", "its task_queue must be a non-empty string, got 7"),
        ("os:sep", "is not a registrar"),
        ("os.path", "must look like 'module:attribute'"),
        ("no_such_module_here:registrar", "cannot load registrar"),
    ],
)
def test_a_reference_that_is_not_a_registrar_is_one_clear_error(
    reference: str, message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        discover([reference])
