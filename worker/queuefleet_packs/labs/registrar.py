"""Registers the lab provisioning pack on `labs.provisioning.v1`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from queuefleet_worker.registry import Contribution, RegistrarContext, RegistryError

from ..postgres import pack_database_from
from .activities import LabActivities
from .adapters import HttpLabAdapter, InProcessLabAdapter, LabAdapter
from .store import SCHEMA, LabStore
from .workflows import LabProvisionWorkflow

__all__ = ["ENV_ADAPTER", "ENV_BASE_URL", "TASK_QUEUE", "LabsRegistrar", "registrar"]

TASK_QUEUE: Final = "labs.provisioning.v1"
# The lab service: "in-process" (default; machines simulated in the worker, for demos) or
# "http". Lab requests and locks always live in QUEUEFLEET_LABS_DATABASE.
ENV_ADAPTER: Final = "QUEUEFLEET_LABS_ADAPTER"
ENV_BASE_URL: Final = "QUEUEFLEET_LABS_BASE_URL"  # the lab service, for the http adapter


@dataclass(frozen=True)
class LabsRegistrar:
    task_queue: str = TASK_QUEUE
    adapter: LabAdapter | None = field(
        default=None, compare=False
    )  # set by tests; else from environ

    def register(self, context: RegistrarContext) -> Contribution:
        store = LabStore(pack_database_from(context.environ, pack="labs", schema=SCHEMA))
        activities = LabActivities(self.adapter or adapter_from(context.environ), store)
        return Contribution(
            workflows=(LabProvisionWorkflow,),
            activities=(
                activities.confirm_request,
                activities.record_status,
                activities.lock_lab,
                activities.release_lock,
                activities.generate_blueprint,
                activities.provision_environment,
                activities.run_validation,
                activities.finalize_lab,
                activities.teardown_environment,
            ),
        )


def adapter_from(environ: Mapping[str, str]) -> LabAdapter:
    get = environ.get
    kind = get(ENV_ADAPTER, "in-process")
    if kind == "in-process":
        return InProcessLabAdapter()
    if kind == "http":
        base_url = get(ENV_BASE_URL, "")
        if not base_url.startswith(("http://", "https://")):
            raise RegistryError(
                f"{ENV_BASE_URL} must be an http(s) URL when {ENV_ADAPTER}=http, got {base_url!r}"
            )
        return HttpLabAdapter(base_url=base_url)
    raise RegistryError(f"{ENV_ADAPTER} must be 'in-process' or 'http', got {kind!r}")


registrar = LabsRegistrar()
