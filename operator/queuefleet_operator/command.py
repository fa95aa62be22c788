"""`queuefleet operator`: run the WorkflowQueue operator."""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import secrets
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from .config import OperatorConfig
    from .kube import KubeApi

__all__ = ["add_arguments", "config_from_args", "run"]

_LISTEN_ALL = "0.0.0.0"  # noqa: S104 - in a pod, probes and scrapes come from outside


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_argument_group("what to watch")
    scope.add_argument(
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="watch only this namespace (repeatable); default: every namespace",
    )
    defaults = parser.add_argument_group("defaults for WorkflowQueues that leave fields empty")
    defaults.add_argument(
        "--temporal-address",
        default=os.environ.get("QUEUEFLEET_OPERATOR_TEMPORAL_ADDRESS"),
        metavar="HOST:PORT",
        help="Temporal frontend (env QUEUEFLEET_OPERATOR_TEMPORAL_ADDRESS)",
    )
    defaults.add_argument(
        "--temporal-namespace",
        default=os.environ.get("QUEUEFLEET_OPERATOR_TEMPORAL_NAMESPACE", "default"),
        help="Temporal namespace (env QUEUEFLEET_OPERATOR_TEMPORAL_NAMESPACE; default: default)",
    )
    defaults.add_argument(
        "--worker-image",
        default=os.environ.get("QUEUEFLEET_OPERATOR_WORKER_IMAGE"),
        metavar="IMAGE",
        help="worker image (env QUEUEFLEET_OPERATOR_WORKER_IMAGE)",
    )
    monitoring = parser.add_argument_group("monitoring")
    monitoring.add_argument(
        "--pod-monitor-labels",
        default=os.environ.get("QUEUEFLEET_OPERATOR_POD_MONITOR_LABELS", ""),
        metavar="KEY=VALUE,...",
        help="extra labels of every worker PodMonitor, e.g. release=kube-prometheus-stack for "
        "that stack's default selector (env QUEUEFLEET_OPERATOR_POD_MONITOR_LABELS)",
    )
    trust = parser.add_argument_group("what a WorkflowQueue may use (see docs/operator.md)")
    trust.add_argument(
        "--allow-inline-credentials",
        action="store_true",
        default=os.environ.get("QUEUEFLEET_OPERATOR_ALLOW_INLINE_CREDENTIALS") == "true",
        help="deprecated, for one release: accept TLS and API-key Secrets named in a "
        "WorkflowQueue itself rather than in a TemporalConnection "
        "(env QUEUEFLEET_OPERATOR_ALLOW_INLINE_CREDENTIALS=true)",
    )
    trust.add_argument(
        "--allowed-temporal-address",
        action="append",
        default=[
            a
            for a in os.environ.get("QUEUEFLEET_OPERATOR_ALLOWED_TEMPORAL_ADDRESSES", "").split(",")
            if a
        ],
        metavar="HOST:PORT",
        help="an address spec.temporal.address may name (repeatable; default: any; env "
        "QUEUEFLEET_OPERATOR_ALLOWED_TEMPORAL_ADDRESSES, comma-separated)",
    )
    _add_worker_pod_arguments(parser)
    timing = parser.add_argument_group("timing")
    timing.add_argument(
        "--sync-interval",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how often each queue's backlog is read and drift checked (default: 30)",
    )
    timing.add_argument(
        "--temporal-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="bound on one Temporal call (default: 5)",
    )
    timing.add_argument(
        "--workers",
        type=int,
        default=16,
        metavar="N",
        help="reconcile passes running at once (default: 16)",
    )
    runtime = parser.add_argument_group("operator runtime")
    runtime.add_argument(
        "--peering",
        default="queuefleet-operator",
        metavar="NAME",
        help="kopf peering object shared by replicas; one replica is active (default: %(default)s)",
    )
    runtime.add_argument(
        "--standalone",
        action="store_true",
        help="run without peering (a single replica; no kopf peering CRDs needed)",
    )
    runtime.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority; the highest is active (default: random, so replicas differ)",
    )
    runtime.add_argument(
        "--liveness",
        default=f"http://{_LISTEN_ALL}:8080/healthz",
        metavar="URL",
        help="kopf's liveness endpoint (default: %(default)s)",
    )
    runtime.add_argument(
        "--metrics-address",
        default=f"{_LISTEN_ALL}:9090",
        metavar="HOST:PORT",
        help="where Prometheus metrics are served; empty disables (default: %(default)s)",
    )
    runtime.add_argument(
        "--log-format",
        choices=("json", "plain"),
        default="json",
        help="structured JSON logs or plain text (default: json)",
    )
    runtime.add_argument("--verbose", action="store_true", help="debug logging")


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _add_worker_pod_arguments(parser: argparse.ArgumentParser) -> None:
    pods = parser.add_argument_group("every worker pod, and what a WorkflowQueue may name")
    pods.add_argument(
        "--worker-image-pull-secret",
        action="append",
        default=_env_list("QUEUEFLEET_OPERATOR_WORKER_IMAGE_PULL_SECRETS"),
        metavar="NAME",
        help="imagePullSecret of every worker pod, in the queue's namespace (repeatable; env "
        "QUEUEFLEET_OPERATOR_WORKER_IMAGE_PULL_SECRETS, comma-separated)",
    )
    pods.add_argument(
        "--worker-pod-labels",
        default=os.environ.get("QUEUEFLEET_OPERATOR_WORKER_POD_LABELS", ""),
        metavar="KEY=VALUE,...",
        help="labels of every worker pod (env QUEUEFLEET_OPERATOR_WORKER_POD_LABELS)",
    )
    pods.add_argument(
        "--worker-pod-annotations",
        default=os.environ.get("QUEUEFLEET_OPERATOR_WORKER_POD_ANNOTATIONS", ""),
        metavar="JSON",
        help="annotations of every worker pod, as a JSON object "
        "(env QUEUEFLEET_OPERATOR_WORKER_POD_ANNOTATIONS)",
    )
    pods.add_argument(
        "--allowed-image-prefix",
        action="append",
        default=_env_list("QUEUEFLEET_OPERATOR_ALLOWED_IMAGE_PREFIXES"),
        metavar="PREFIX",
        help="images a WorkflowQueue names must start with one (repeatable; default: any; "
        "env QUEUEFLEET_OPERATOR_ALLOWED_IMAGE_PREFIXES, comma-separated)",
    )
    pods.add_argument(
        "--allowed-service-account",
        action="append",
        default=_env_list("QUEUEFLEET_OPERATOR_ALLOWED_SERVICE_ACCOUNTS"),
        metavar="NAME",
        help="a ServiceAccount spec.worker.serviceAccountName may name (repeatable; default: "
        "any; env QUEUEFLEET_OPERATOR_ALLOWED_SERVICE_ACCOUNTS, comma-separated)",
    )


def config_from_args(args: argparse.Namespace) -> OperatorConfig:
    """The operator's settings from its flags (whose defaults come from the environment)."""
    from queuefleet_cli.errors import CommandError

    from .config import (
        WORKER_POD_LABELS_FLAG,
        ConfigError,
        OperatorConfig,
        parse_annotations,
        parse_labels,
    )

    try:
        config = OperatorConfig(
            temporal_address=args.temporal_address or None,
            temporal_namespace=args.temporal_namespace,
            worker_image=args.worker_image or None,
            namespaces=tuple(args.namespace),
            sync_interval_seconds=args.sync_interval,
            temporal_timeout_seconds=args.temporal_timeout,
            workers=args.workers,
            allow_inline_credentials=args.allow_inline_credentials,
            allowed_temporal_addresses=tuple(args.allowed_temporal_address),
            pod_monitor_labels=parse_labels(args.pod_monitor_labels),
            worker_image_pull_secrets=tuple(args.worker_image_pull_secret),
            worker_pod_labels=parse_labels(args.worker_pod_labels, WORKER_POD_LABELS_FLAG),
            worker_pod_annotations=parse_annotations(args.worker_pod_annotations),
            allowed_image_prefixes=tuple(args.allowed_image_prefix),
            allowed_service_accounts=tuple(args.allowed_service_account),
        )
    except ConfigError as error:
        raise CommandError(str(error)) from error
    return config


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    import kopf
    from prometheus_client import start_http_server
    from queuefleet_cli.errors import CommandError

    from .backlog import BacklogReader
    from .discovery import Insights, Rediscovery
    from .handlers import post_event, register
    from .kube import KubeApi
    from .peering import PeeringMonitor
    from .runtime import Runtime

    config = config_from_args(args)
    metrics_host, metrics_port = _host_port(args.metrics_address, "--metrics-address")

    try:
        kube = KubeApi.from_environment(connections=config.workers)
    except Exception as error:  # no kubeconfig, no service account: a setup problem
        raise CommandError(f"cannot find Kubernetes credentials: {error}") from error
    runtime = Runtime(
        config=config,
        kube=kube,
        backlog=BacklogReader(timeout_seconds=config.temporal_timeout_seconds),
        post_event=post_event,
        active=args.standalone,
    )
    priority = _peering_priority(args.priority)
    identity = _identity()
    monitor = None
    if not args.standalone:
        monitor = PeeringMonitor(
            read_peers=functools.partial(_read_peers, kube, args.peering, config.namespaces),
            identity=identity,
            priority=priority,
            switch=runtime,
        )
    if metrics_port is not None:
        try:
            start_http_server(metrics_port, addr=metrics_host, registry=runtime.metrics.registry)
        except OSError as error:
            raise CommandError(f"--metrics-address {args.metrics_address}: {error}") from error

    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    if not args.verbose:
        # kopf reports every handler run per object; keep those lines for --verbose.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    registry = kopf.OperatorRegistry()
    register(registry, config)
    insights = Insights()  # kopf's picture of the served resources, shared with Rediscovery
    options: dict[str, Any] = {"clusterwide": True}
    if args.namespace:
        options = {"namespaces": args.namespace}
    asyncio.run(
        kopf.operator(
            registry=registry,
            memo=kopf.Memo(
                runtime=runtime,
                peering=monitor,
                rediscovery=Rediscovery(insights=insights, registry=registry),
            ),
            insights=insights,
            standalone=args.standalone,
            peering_name=None if args.standalone else args.peering,
            priority=priority,
            identity=cast("Any", identity),
            liveness_endpoint=args.liveness or None,
            **options,
        )
    )
    return 0


def _host_port(value: str, flag: str) -> tuple[str, int | None]:
    from queuefleet_cli.errors import CommandError

    if not value:
        return "", None
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"{flag} must look like HOST:PORT, got {value!r}")
    return host or _LISTEN_ALL, int(port)


def _identity() -> str:
    """This replica's name among its peers: the pod's name when set (kopf's POD_ID)."""
    pod = os.environ.get("POD_ID")
    return pod or f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"


async def _read_peers(
    kube: KubeApi, name: str, namespaces: tuple[str, ...]
) -> list[Mapping[str, Any]]:
    """Each peering object kopf uses: one per watched namespace, or the cluster's one."""
    return [
        await asyncio.to_thread(kube.peering_status, name, namespace)
        for namespace in namespaces or (None,)
    ]


def _peering_priority(requested: int | None) -> int:
    # kopf pauses every peer that shares the highest priority, itself included; replicas of
    # one Deployment get identical args, so each draws its own priority unless one is given.
    return requested if requested is not None else secrets.randbelow(1_000_000) + 1
