"""TemporalConnections, and what a WorkflowQueue's `spec.temporal` may use. Pure, no I/O.

A TemporalConnection is an admin's Temporal endpoint: address, namespace, TLS and API-key
Secret references, in the namespace of the queues that use it (their worker pods mount the
Secrets). The invariant this module keeps: a Secret reaches a queue's workers, its KEDA
TriggerAuthentication or the operator's backlog read only when a TemporalConnection names
it. A queue may point at a connection (`spec.temporal.connectionRef`), never choose the
Secrets or the address they are sent to, so creating a WorkflowQueue grants no more than its
author already has.

`resolve` turns a queue's spec into the spec the planner and the backlog read use (the
connection's endpoint filled in), or a `Refusal` with a Ready reason:
- `ConnectionNotFound` / `InvalidConnection`: the referenced connection is missing or bad;
- `InlineCredentialsRefused`: `spec.temporal.tls.secretName` or `apiKeySecret` in the queue
  itself, unless the operator runs with `--allow-inline-credentials` (one release, to move);
- `AddressNotAllowed`: an inline `spec.temporal.address` (no credentials) outside
  `--allowed-temporal-address`, when that list is set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .conditions import Reason
from .config import OperatorConfig
from .spec import SpecError, TemporalSpec, WorkflowQueueSpec, parse_endpoint

__all__ = ["Connection", "Lookup", "Refusal", "parse_connection", "referenced", "resolve"]

# (namespace, name) -> the TemporalConnection's body as last watched, or None.
Lookup = Callable[[str, str], Mapping[str, Any] | None]


@dataclass(frozen=True, kw_only=True)
class Connection:
    namespace: str
    name: str
    endpoint: TemporalSpec  # address always set; no connection_ref


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """Why a queue's spec.temporal cannot be used as it stands; the message names the field."""

    reason: str
    message: str


def parse_connection(body: Mapping[str, Any]) -> Connection:
    """The typed view of a TemporalConnection; SpecError names the object and the field."""
    metadata = body.get("metadata") or {}
    namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
    spec = body.get("spec")
    try:
        if not isinstance(spec, Mapping):
            raise SpecError("spec must be an object")
        endpoint = parse_endpoint(spec, "spec")
        if endpoint.address is None:
            raise SpecError("spec.address is required")
    except SpecError as error:
        raise SpecError(f"TemporalConnection {namespace}/{name}: {error}") from error
    return Connection(namespace=namespace, name=name, endpoint=endpoint)


def referenced(queue_body: Mapping[str, Any]) -> str | None:
    """The TemporalConnection a raw WorkflowQueue body names, if any (tolerant of bad specs)."""
    temporal = (queue_body.get("spec") or {}).get("temporal")
    ref = temporal.get("connectionRef") if isinstance(temporal, Mapping) else None
    name = ref.get("name") if isinstance(ref, Mapping) else None
    return name if isinstance(name, str) and name else None


def resolve(
    namespace: str, spec: WorkflowQueueSpec, lookup: Lookup, config: OperatorConfig
) -> WorkflowQueueSpec | Refusal:
    """`spec` with its connection's endpoint filled in, or why it may not be used."""
    temporal = spec.temporal
    ref = temporal.connection_ref
    if ref is not None:
        body = lookup(namespace, ref)
        if body is None:
            return Refusal(
                reason=Reason.CONNECTION_NOT_FOUND,
                message=f"spec.temporal.connectionRef.name: TemporalConnection {ref!r} does not "
                f"exist in namespace {namespace}; an admin creates it there",
            )
        try:
            connection = parse_connection(body)
        except SpecError as error:
            return Refusal(
                reason=Reason.INVALID_CONNECTION,
                message=f"spec.temporal.connectionRef.name: {error}",
            )
        endpoint = connection.endpoint
        # The queue may pick its Temporal namespace; what the credential may do there is
        # Temporal's own authorization to decide.
        effective = replace(
            endpoint, namespace=temporal.namespace or endpoint.namespace, connection_ref=ref
        )
        return replace(spec, temporal=effective)
    field = temporal.inline_credentials
    if field is not None and not config.allow_inline_credentials:
        return Refusal(
            reason=Reason.INLINE_CREDENTIALS_REFUSED,
            message=f"{field}: a WorkflowQueue may not name credentials itself; an admin puts "
            "them in a TemporalConnection and the queue sets spec.temporal.connectionRef.name "
            "(the operator's --allow-inline-credentials still accepts them, for one release)",
        )
    address = temporal.address
    allowed = config.allowed_temporal_addresses
    if address is not None and allowed and address not in (*allowed, config.temporal_address):
        return Refusal(
            reason=Reason.ADDRESS_NOT_ALLOWED,
            message=f"spec.temporal.address: {address} is not one of the addresses the "
            "operator allows (--allowed-temporal-address); use spec.temporal.connectionRef "
            "or ask an admin to allow it",
        )
    return spec
