"""The central registry: which workflows and activities run on which task queue.

A registrar serves one task queue. Its `register` step receives the dependencies it may
use (configuration, a Temporal client) and returns what it contributes; nothing is global.
Registrars come from the `queuefleet.registrars` entry-point group, so a user's package
installed next to queuefleet registers itself, or from an explicit list of
`module:attribute` references.

A registrar that owns something beside its activities (an HTTP endpoint, a queue
consumer) contributes it as a `Service`: the runtime starts each one after the client
connects and before the worker polls, and stops it (in reverse order) after the drain.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from temporalio.client import Client

__all__ = [
    "ENTRY_POINT_GROUP",
    "Contribution",
    "Registrar",
    "RegistrarContext",
    "RegistryError",
    "Service",
    "assemble",
    "discover",
    "serving",
]

ENTRY_POINT_GROUP = "queuefleet.registrars"


@dataclass(frozen=True, kw_only=True)
class RegistrarContext:
    """Dependencies handed to every registrar of the worker being assembled."""

    task_queue: str
    namespace: str
    client: Client | None = None  # None while only validating what would run
    environ: Mapping[str, str] = field(default_factory=dict)  # pack settings, e.g. adapter URLs


@runtime_checkable
class Service(Protocol):
    """A resource a registrar owns for the worker's lifetime; `name` appears in errors.

    `start` raising stops the worker from starting (one line: the name and the error);
    `stop` must release everything `start` took and may be called after a failed start.
    """

    @property
    def name(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Contribution:
    """What one registrar adds to its task queue's worker."""

    workflows: Sequence[type] = ()
    activities: Sequence[Callable[..., Any]] = ()
    services: Sequence[Service] = ()  # started before polling, stopped after the drain


@runtime_checkable
class Registrar(Protocol):
    """Contributes workflows and activities to one task queue."""

    @property
    def task_queue(self) -> str: ...

    def register(self, context: RegistrarContext) -> Contribution: ...


class RegistryError(ValueError):
    """A registrar could not be loaded, or nothing serves the requested task queue."""


def discover(references: Iterable[str] = ()) -> list[Registrar]:
    """Registrars from explicit `module:attribute` references, else from entry points."""
    refs = [ref.strip() for ref in references if ref.strip()]
    if refs:
        return [_load_reference(ref) for ref in refs]
    found = []
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        try:
            loaded = entry_point.load()
        except Exception as error:  # a broken plugin must name itself, not crash anonymously
            raise RegistryError(
                f"entry point {entry_point.name!r} ({entry_point.value}) failed to load: {error}"
            ) from error
        found.append(_as_registrar(loaded, entry_point.value))
    return found


def serving(registrars: Sequence[Registrar], task_queue: str) -> list[Registrar]:
    """The registrars for `task_queue`; checked before connecting, so a wrong queue fails fast."""
    selected = [r for r in registrars if r.task_queue == task_queue]
    if not selected:
        known = ", ".join(sorted({r.task_queue for r in registrars})) or "none"
        raise RegistryError(
            f"no registrar serves task queue {task_queue!r}; known task queues: {known}"
        )
    return selected


def assemble(registrars: Sequence[Registrar], context: RegistrarContext) -> Contribution:
    """Everything the registrars serving `context.task_queue` contribute, in a stable order."""
    workflows: list[type] = []
    activities: list[Callable[..., Any]] = []
    services: list[Service] = []
    for registrar in serving(registrars, context.task_queue):
        contribution = registrar.register(context)
        workflows.extend(w for w in contribution.workflows if w not in workflows)
        activities.extend(a for a in contribution.activities if a not in activities)
        services.extend(s for s in contribution.services if s not in services)
    return Contribution(
        workflows=tuple(workflows), activities=tuple(activities), services=tuple(services)
    )


def _load_reference(reference: str) -> Registrar:
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise RegistryError(f"registrar reference {reference!r} must look like 'module:attribute'")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise RegistryError(f"cannot load registrar {reference!r}: {error}") from error
    return _as_registrar(target, reference)


def _as_registrar(loaded: Any, origin: str) -> Registrar:
    # An entry point may name a registrar class (instantiated with no arguments) or an instance.
    try:
        candidate = loaded() if isinstance(loaded, type) else loaded
    except Exception as error:  # a third-party constructor: any failure is a bad reference
        raise RegistryError(
            f"{origin} is a class that cannot be created without arguments: {error}"
        ) from error
    if not isinstance(candidate, Registrar) or not callable(candidate.register):
        raise RegistryError(
            f"{origin} is not a registrar: it needs a 'task_queue' and a 'register(context)' method"
        )
    if not isinstance(candidate.task_queue, str) or not candidate.task_queue:
        raise RegistryError(
            f"{origin} is not a registrar: its task_queue must be a non-empty string, "
            f"got {candidate.task_queue!r}"
        )
    return candidate
