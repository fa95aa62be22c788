"""Worker settings from the environment, validated once at startup.

The Temporal connection (address, namespace, API key, TLS, profiles) is loaded by
`temporalio.envconfig`, so it follows Temporal's own variable names and config file. The
worker's own settings are the `QUEUEFLEET_*` variables named in `contract`. Command-line
flags override the environment. Every invalid value raises `SettingsError` naming the
variable (or flag) and what it expects.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import contract

__all__ = [
    "LogFormat",
    "SettingsError",
    "Tuner",
    "VersioningBehavior",
    "WorkerSettings",
    "load_settings",
]

LogFormat = Literal["text", "json"]
Tuner = Literal["fixed", "resource-based"]
VersioningBehavior = Literal["auto-upgrade", "pinned"]

_TRUE = ("true", "1")
_FALSE = ("false", "0")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it and what it expects."""


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """Everything the worker process needs, after validation."""

    task_queue: str
    registrars: tuple[str, ...] = ()  # `module:attribute`; empty means entry points
    # Keyword arguments for Client.connect; holds the API key, so kept out of repr.
    connect_config: Mapping[str, Any] = field(default_factory=dict, repr=False)
    address: str = contract.DEFAULT_TEMPORAL_ADDRESS
    namespace: str = contract.DEFAULT_TEMPORAL_NAMESPACE
    # None leaves the SDK default; with the resource-based tuner they cap the slots.
    max_concurrent_activities: int | None = None
    max_concurrent_workflow_tasks: int | None = None
    # Fixed pollers: the maximum number of concurrent polls. Autoscaling: the upper bound.
    workflow_task_pollers: int | None = None
    activity_task_pollers: int | None = None
    poller_autoscaling: bool = False
    tuner: Tuner = "fixed"
    tuner_target_memory_usage: float = 0.8
    tuner_target_cpu_usage: float = 0.9
    graceful_shutdown_seconds: int = contract.DEFAULT_GRACEFUL_SHUTDOWN_SECONDS
    # Both set: the worker joins Worker Versioning as deployment_name.build_id.
    deployment_name: str | None = None
    build_id: str | None = None
    default_versioning_behavior: VersioningBehavior = "auto-upgrade"
    listen_host: str = contract.DEFAULT_LISTEN_HOST
    health_port: int = contract.DEFAULT_HEALTH_PORT
    metrics_port: int = contract.DEFAULT_METRICS_PORT
    log_format: LogFormat = "text"
    log_level: str = "INFO"

    @property
    def versioned(self) -> bool:
        return self.deployment_name is not None


@dataclass(frozen=True)
class _Source:
    """Reads one setting from a flag value or the environment, remembering which it was."""

    environ: Mapping[str, str]
    flags: Mapping[str, tuple[str, str | None]]  # env name -> (flag, value or None)

    def get(self, name: str) -> tuple[str, str | None]:
        flag, value = self.flags.get(name, ("", None))
        if value is not None:
            return flag, value
        raw = self.environ.get(name)
        return name, (raw.strip() if raw is not None and raw.strip() else None)

    def integer(self, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
        where, raw = self.get(name)
        if raw is None:
            return None
        bound = f"between {minimum} and {maximum}" if maximum else f">= {minimum}"
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{where} must be an integer {bound}, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise SettingsError(f"{where} must be an integer {bound}, got {raw!r}")
        return value

    def fraction(self, name: str, default: float) -> float:
        where, raw = self.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0.0 < value <= 1.0:
            raise SettingsError(f"{where} must be a number in (0, 1], e.g. 0.8, got {raw!r}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        where, raw = self.get(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SettingsError(f"{where} must be true or false, got {raw!r}")

    def choice(self, name: str, choices: Sequence[str], default: str) -> str:
        where, raw = self.get(name)
        if raw is None:
            return default
        if raw.lower() not in choices:
            raise SettingsError(f"{where} must be one of {', '.join(choices)}; got {raw!r}")
        return raw.lower()


def load_settings(
    environ: Mapping[str, str],
    *,
    task_queue: str | None = None,
    registrars: Sequence[str] | None = None,
    health_port: int | None = None,
    metrics_port: int | None = None,
) -> WorkerSettings:
    """Validated settings from `environ`; the keyword arguments are flags and win over it."""
    source = _Source(
        environ,
        {
            contract.ENV_TASK_QUEUE: ("--task-queue", task_queue),
            contract.ENV_REGISTRARS: ("--registrar", ",".join(registrars or ()) or None),
            contract.ENV_HEALTH_PORT: ("--health-port", _str(health_port)),
            contract.ENV_METRICS_PORT: ("--metrics-port", _str(metrics_port)),
        },
    )
    queue = source.get(contract.ENV_TASK_QUEUE)[1]
    if not queue:
        raise SettingsError(
            f"{contract.ENV_TASK_QUEUE} (or --task-queue) is required: the task queue to serve"
        )
    references = source.get(contract.ENV_REGISTRARS)[1] or ""
    connect_config, address, namespace = _temporal_connection(environ)
    workflow_tasks = source.integer(contract.ENV_MAX_CONCURRENT_WORKFLOW_TASKS, minimum=2)
    deployment_name = source.get(contract.ENV_DEPLOYMENT_NAME)[1]
    build_id = source.get(contract.ENV_BUILD_ID)[1]
    _check_versioning(deployment_name, build_id)
    health = source.integer(contract.ENV_HEALTH_PORT, minimum=1, maximum=65535)
    metrics = source.integer(contract.ENV_METRICS_PORT, minimum=1, maximum=65535)
    health = health or contract.DEFAULT_HEALTH_PORT
    metrics = metrics or contract.DEFAULT_METRICS_PORT
    if health == metrics:
        raise SettingsError(
            f"{contract.ENV_HEALTH_PORT} and {contract.ENV_METRICS_PORT} must differ, "
            f"both are {health}"
        )
    graceful = source.integer(
        contract.ENV_GRACEFUL_SHUTDOWN_SECONDS,
        minimum=0,
        maximum=contract.MAX_GRACEFUL_SHUTDOWN_SECONDS,
    )
    return WorkerSettings(
        task_queue=queue,
        registrars=tuple(ref.strip() for ref in references.split(",") if ref.strip()),
        connect_config=connect_config,
        address=address,
        namespace=namespace,
        max_concurrent_activities=source.integer(contract.ENV_MAX_CONCURRENT_ACTIVITIES, minimum=1),
        max_concurrent_workflow_tasks=workflow_tasks,
        # The SDK needs two workflow pollers: one for the sticky queue, one for the shared one.
        workflow_task_pollers=source.integer(contract.ENV_WORKFLOW_TASK_POLLERS, minimum=2),
        activity_task_pollers=source.integer(contract.ENV_ACTIVITY_TASK_POLLERS, minimum=1),
        poller_autoscaling=source.boolean(contract.ENV_POLLER_AUTOSCALING, False),
        tuner=_tuner(source.choice(contract.ENV_TUNER, ("fixed", "resource-based"), "fixed")),
        tuner_target_memory_usage=source.fraction(contract.ENV_TUNER_TARGET_MEMORY_USAGE, 0.8),
        tuner_target_cpu_usage=source.fraction(contract.ENV_TUNER_TARGET_CPU_USAGE, 0.9),
        graceful_shutdown_seconds=(
            contract.DEFAULT_GRACEFUL_SHUTDOWN_SECONDS if graceful is None else graceful
        ),
        deployment_name=deployment_name,
        build_id=build_id,
        default_versioning_behavior=_versioning_behavior(
            source.choice(
                contract.ENV_DEFAULT_VERSIONING_BEHAVIOR, ("auto-upgrade", "pinned"), "auto-upgrade"
            )
        ),
        listen_host=source.get(contract.ENV_LISTEN_HOST)[1] or contract.DEFAULT_LISTEN_HOST,
        health_port=health,
        metrics_port=metrics,
        log_format=_log_format(source.choice(contract.ENV_LOG_FORMAT, ("text", "json"), "text")),
        log_level=source.choice(
            contract.ENV_LOG_LEVEL, tuple(level.lower() for level in _LOG_LEVELS), "info"
        ).upper(),
    )


def _temporal_connection(environ: Mapping[str, str]) -> tuple[dict[str, Any], str, str]:
    """Client.connect arguments through temporalio.envconfig, plus checks it leaves to us."""
    from temporalio.envconfig import ClientConfigProfile

    tls_flag = environ.get(contract.ENV_TEMPORAL_TLS, "").strip()
    if tls_flag and tls_flag.lower() not in _TRUE + _FALSE:
        # envconfig would read an unknown value as "TLS on", which hides the typo.
        raise SettingsError(f"{contract.ENV_TEMPORAL_TLS} must be true or false, got {tls_flag!r}")
    try:
        profile = ClientConfigProfile.load(override_env_vars=dict(environ))
    except Exception as error:  # the bridge raises its own ConfigError (a RuntimeError)
        where = " / ".join(
            name
            for name in (contract.ENV_TEMPORAL_CONFIG_FILE, contract.ENV_TEMPORAL_PROFILE)
            if environ.get(name)
        )
        raise SettingsError(
            f"{where or 'Temporal client configuration'}: cannot load the profile: "
            f"{str(error).strip().splitlines()[0]}"
        ) from error
    if profile.tls is not None:
        _check_tls_files(profile.tls)
    try:
        connect_config: dict[str, Any] = dict(profile.to_client_connect_config())
    except OSError as error:
        raise SettingsError(f"Temporal TLS files cannot be read: {error}") from error
    address = str(connect_config.setdefault("target_host", contract.DEFAULT_TEMPORAL_ADDRESS))
    _check_address(address)
    namespace = str(connect_config.setdefault("namespace", contract.DEFAULT_TEMPORAL_NAMESPACE))
    if not namespace:
        raise SettingsError(f"{contract.ENV_TEMPORAL_NAMESPACE} must not be empty")
    return connect_config, address, namespace


def _check_tls_files(tls: Any) -> None:
    cert, key = tls.client_cert, tls.client_private_key
    if (cert is None) != (key is None):
        raise SettingsError(
            f"{contract.ENV_TEMPORAL_TLS_CLIENT_CERT_PATH} and "
            f"{contract.ENV_TEMPORAL_TLS_CLIENT_KEY_PATH} must be set together (mutual TLS)"
        )
    for name, source in (
        (contract.ENV_TEMPORAL_TLS_CLIENT_CERT_PATH, cert),
        (contract.ENV_TEMPORAL_TLS_CLIENT_KEY_PATH, key),
        (contract.ENV_TEMPORAL_TLS_SERVER_CA_CERT_PATH, tls.server_root_ca_cert),
    ):
        if isinstance(source, Path) and not source.is_file():
            raise SettingsError(f"{name} must name a readable PEM file; {source} does not exist")


# A DNS name (RFC 1123 labels, ASCII: IDNA names in their xn-- form), an IPv4 address or
# a bracketed IPv6 address. Anything else would only fail later, retried forever as
# "cannot reach Temporal".
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _check_address(address: str) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or not _valid_host(host):
        raise SettingsError(
            f"{contract.ENV_TEMPORAL_ADDRESS} must be host:port, e.g. temporal-frontend:7233; "
            f"got {address!r}"
        )


def _valid_host(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if len(host) > 253:
        return False
    return all(_HOST_LABEL.fullmatch(label) for label in host.removesuffix(".").split("."))


def _check_versioning(deployment_name: str | None, build_id: str | None) -> None:
    if (deployment_name is None) != (build_id is None):
        raise SettingsError(
            f"{contract.ENV_DEPLOYMENT_NAME} and {contract.ENV_BUILD_ID} must be set together "
            "(Worker Versioning) or both left unset (unversioned)"
        )
    if deployment_name is not None and "." in deployment_name:
        raise SettingsError(
            f"{contract.ENV_DEPLOYMENT_NAME} must not contain '.', got {deployment_name!r}"
        )


def _tuner(value: str) -> Tuner:
    return "resource-based" if value == "resource-based" else "fixed"


def _versioning_behavior(value: str) -> VersioningBehavior:
    return "pinned" if value == "pinned" else "auto-upgrade"


def _log_format(value: str) -> LogFormat:
    return "json" if value == "json" else "text"


def _str(value: int | None) -> str | None:
    return None if value is None else str(value)
