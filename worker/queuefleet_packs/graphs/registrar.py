"""Registers the graph executor on the `graphs.v1` task queue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from queuefleet_worker.registry import Contribution, RegistrarContext, RegistryError

from .activities import GraphActivities, HostAllowList, WebhookSecret
from .callbacks import CallbackSettingsError, callbacks_from
from .children import DEFAULT_CHILD_WORKFLOWS, ChildPolicy, install
from .egress import AddressPolicy
from .nodes_ai import AiActivities, AiSettingsError, ai_endpoint_from
from .nodes_database import DatabaseActivities, DatabaseSettingsError, connections_from
from .workflows import GraphWorkflow

__all__ = [
    "ENV_CHILD_WORKFLOWS",
    "ENV_HTTP_ALLOW",
    "ENV_HTTP_ALLOW_NETWORKS",
    "ENV_SECRET_PREFIX",
    "TASK_QUEUE",
    "GraphsRegistrar",
    "registrar",
]

TASK_QUEUE: Final = "graphs.v1"
# Comma-separated hosts `http` and `webhook` nodes may reach: host, host:port or *.domain.
# Nothing is reachable when unset.
ENV_HTTP_ALLOW: Final = "QUEUEFLEET_GRAPHS_HTTP_ALLOW"
# Comma-separated networks exempt from the default block of link-local and metadata
# addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, ...), e.g. "169.254.10.0/24".
ENV_HTTP_ALLOW_NETWORKS: Final = "QUEUEFLEET_GRAPHS_HTTP_ALLOW_NETWORKS"
# QUEUEFLEET_GRAPHS_SECRET_<NAME> holds the secret a webhook node names with `sign_with`;
# QUEUEFLEET_GRAPHS_SECRET_<NAME>_HOSTS lists the hosts it may sign for (allow-list
# entries). A secret without hosts signs for none.
ENV_SECRET_PREFIX: Final = "QUEUEFLEET_GRAPHS_SECRET_"  # noqa: S105 (a prefix, not a secret)
_HOSTS_SUFFIX: Final = "_HOSTS"
# Comma-separated `WorkflowType` or `WorkflowType@task_queue` entries child nodes may start
# (an entry without a queue means this worker's own). Default: GraphWorkflow.
ENV_CHILD_WORKFLOWS: Final = "QUEUEFLEET_GRAPHS_CHILD_WORKFLOWS"


def secrets_from(environ: Mapping[str, str]) -> dict[str, WebhookSecret]:
    values = {
        key[len(ENV_SECRET_PREFIX) :].lower(): value
        for key, value in environ.items()
        if key.startswith(ENV_SECRET_PREFIX) and not key.endswith(_HOSTS_SUFFIX)
    }
    return {
        name: WebhookSecret(
            value,
            HostAllowList.parse(
                environ.get(f"{ENV_SECRET_PREFIX}{name.upper()}{_HOSTS_SUFFIX}", "")
            ),
        )
        for name, value in values.items()
    }


@dataclass(frozen=True)
class GraphsRegistrar:
    task_queue: str = TASK_QUEUE

    def register(self, context: RegistrarContext) -> Contribution:
        allow_list = HostAllowList.parse(context.environ.get(ENV_HTTP_ALLOW, ""))
        try:
            addresses = AddressPolicy.parse(context.environ.get(ENV_HTTP_ALLOW_NETWORKS, ""))
            children = ChildPolicy.parse(
                context.environ.get(ENV_CHILD_WORKFLOWS, DEFAULT_CHILD_WORKFLOWS)
            )
        except ValueError as error:
            raise RegistryError(f"graphs pack: {error}") from None
        install(context.task_queue, children)
        activities = GraphActivities(
            allow_list=allow_list, secrets=secrets_from(context.environ), addresses=addresses
        )
        try:
            databases = DatabaseActivities(connections_from(context.environ))
            ai = AiActivities(
                endpoint=ai_endpoint_from(context.environ), host_allowed=allow_list.allows
            )
            callbacks = callbacks_from(context.environ, context.client, activities)
        except (DatabaseSettingsError, AiSettingsError, CallbackSettingsError) as error:
            raise RegistryError(f"graphs pack: {error}") from None
        return Contribution(
            workflows=(GraphWorkflow,),
            activities=(
                activities.http_request,
                activities.deliver_webhook,
                databases.database_query,
                ai.ai_chat,
                callbacks.activities.await_callback,
            ),
            services=(callbacks.receiver,) if callbacks.receiver is not None else (),
        )


registrar = GraphsRegistrar()
