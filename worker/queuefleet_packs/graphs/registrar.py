"""Registers the graph executor on the `graphs.v1` task queue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from queuefleet_worker.registry import Contribution, RegistrarContext

from .activities import GraphActivities, HostAllowList
from .workflows import GraphWorkflow

__all__ = ["ENV_HTTP_ALLOW", "ENV_SECRET_PREFIX", "TASK_QUEUE", "GraphsRegistrar", "registrar"]

TASK_QUEUE: Final = "graphs.v1"
# Comma-separated hosts `http` and `webhook` nodes may reach: host, host:port or *.domain.
# Nothing is reachable when unset.
ENV_HTTP_ALLOW: Final = "QUEUEFLEET_GRAPHS_HTTP_ALLOW"
# QUEUEFLEET_GRAPHS_SECRET_<NAME> holds the secret a webhook node names with `sign_with`.
ENV_SECRET_PREFIX: Final = "QUEUEFLEET_GRAPHS_SECRET_"  # noqa: S105 (a prefix, not a secret)


def secrets_from(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        key[len(ENV_SECRET_PREFIX) :].lower(): value
        for key, value in environ.items()
        if key.startswith(ENV_SECRET_PREFIX)
    }


@dataclass(frozen=True)
class GraphsRegistrar:
    task_queue: str = TASK_QUEUE

    def register(self, context: RegistrarContext) -> Contribution:
        activities = GraphActivities(
            allow_list=HostAllowList.parse(context.environ.get(ENV_HTTP_ALLOW, "")),
            secrets=secrets_from(context.environ),
        )
        return Contribution(
            workflows=(GraphWorkflow,),
            activities=(activities.http_request, activities.deliver_webhook),
        )


registrar = GraphsRegistrar()
