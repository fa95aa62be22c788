"""TemporalConnections: a queue gets credentials only through one, and never leaks them.

Table-style over `connection.resolve` and the reconciler's plan (no cluster); the backlog
read against a KubeApi whose Secret reads are refused, as the API server refuses them.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from queuefleet_operator import constants
from queuefleet_operator.backlog import BacklogMonitor, BacklogQuery, BacklogReader, TLSMaterial
from queuefleet_operator.cache import Cache
from queuefleet_operator.conditions import Reason
from queuefleet_operator.config import OperatorConfig
from queuefleet_operator.connection import Refusal, parse_connection, resolve
from queuefleet_operator.kube import KubeApi, KubeError
from queuefleet_operator.metrics import OperatorMetrics
from queuefleet_operator.observed import Observed
from queuefleet_operator.reconciler import Reconciler
from queuefleet_operator.spec import SpecError, WorkflowQueueSpec, parse_spec

from tests.unit.operator.test_operator_planner import CONFIG, NOW, body, conditions, env_of

REPO = Path(__file__).resolve().parents[3]
CLOUD = {
    "address": "acme.a1b2c.tmprl.cloud:7233",
    "namespace": "acme.a1b2c",
    "tls": {"enabled": True, "serverName": "acme.a1b2c.tmprl.cloud"},
    "apiKeySecret": {"name": "cloud-key", "key": "api-key"},
}


def connection_body(
    namespace: str = "ns", spec: dict[str, Any] | None = None, name: str = "cloud"
) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": "TemporalConnection",
        "metadata": {"namespace": namespace, "name": name},
        "spec": CLOUD if spec is None else spec,
    }


def lookup_of(*connections: dict[str, Any]) -> Any:
    found = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in connections}
    return lambda namespace, name: found.get((namespace, name))


def spec_of(**temporal: Any) -> WorkflowQueueSpec:
    return parse_spec({"taskQueue": "orders", "temporal": temporal})


# ---- spec.temporal.address and spec.address -----------------------------------------------


@pytest.mark.parametrize("address", ["t:0", "t:99999", "t:65536", "t:", "t"])
def test_an_address_needs_a_port_from_1_to_65535(address: str) -> None:
    with pytest.raises(SpecError, match=r"^spec\.temporal\.address must .* from 1 to 65535"):
        spec_of(address=address)
    with pytest.raises(SpecError, match=r"TemporalConnection ns/cloud: spec\.address must"):
        parse_connection(connection_body(spec={"address": address}))


@pytest.mark.parametrize("address", ["t:1", "t:65535", "[::1]:7233"])
def test_ports_in_range_are_accepted(address: str) -> None:
    assert spec_of(address=address).temporal.address == address


def test_a_connection_needs_an_address_and_is_checked_like_a_queue() -> None:
    with pytest.raises(SpecError, match=r"ns/cloud: spec\.address is required"):
        parse_connection(connection_body(spec={"namespace": "x"}))
    with pytest.raises(SpecError, match=r"spec\.tls\.caKey needs spec\.tls\.secretName"):
        parse_connection(
            connection_body(
                spec={"address": "t:7233", "tls": {"caKey": "ca"}, "apiKeySecret": {"name": "k"}}
            )
        )


def test_connection_ref_excludes_an_address_or_credentials_of_the_queue() -> None:
    with pytest.raises(SpecError, match=r"spec\.temporal\.connectionRef takes the address"):
        spec_of(connectionRef={"name": "cloud"}, address="t:7233")


# ---- resolve -------------------------------------------------------------------------------


def test_a_connection_supplies_address_tls_and_api_key() -> None:
    resolved = resolve(
        "ns", spec_of(connectionRef={"name": "cloud"}), lookup_of(connection_body()), CONFIG
    )
    assert isinstance(resolved, WorkflowQueueSpec)
    temporal = resolved.temporal
    assert temporal.address == "acme.a1b2c.tmprl.cloud:7233"
    assert temporal.namespace == "acme.a1b2c"
    assert temporal.api_key_secret is not None
    assert temporal.api_key_secret.name == "cloud-key"
    assert temporal.tls is not None
    assert temporal.tls.server_name == "acme.a1b2c.tmprl.cloud"
    assert temporal.connection_ref == "cloud"


def test_a_queue_may_pick_its_temporal_namespace_on_a_connection() -> None:
    spec = spec_of(connectionRef={"name": "cloud"}, namespace="refunds")
    resolved = resolve("ns", spec, lookup_of(connection_body()), CONFIG)
    assert isinstance(resolved, WorkflowQueueSpec)
    assert resolved.temporal.namespace == "refunds"


@pytest.mark.parametrize(
    ("temporal", "connections", "config", "reason", "field"),
    [
        pytest.param(
            {"connectionRef": {"name": "cloud"}},
            [connection_body(namespace="other")],  # same name, another namespace
            CONFIG,
            Reason.CONNECTION_NOT_FOUND,
            "spec.temporal.connectionRef.name",
            id="connection-in-another-namespace",
        ),
        pytest.param(
            {"connectionRef": {"name": "cloud"}},
            [connection_body(spec={"address": "t:99999"})],
            CONFIG,
            Reason.INVALID_CONNECTION,
            "spec.temporal.connectionRef.name",
            id="connection-invalid",
        ),
        pytest.param(
            {"address": "evil.example:443", "apiKeySecret": {"name": "any-secret"}},
            [],
            CONFIG,
            Reason.INLINE_CREDENTIALS_REFUSED,
            "spec.temporal.apiKeySecret",
            id="inline-api-key",
        ),
        pytest.param(
            {"tls": {"secretName": "client-cert"}},
            [],
            CONFIG,
            Reason.INLINE_CREDENTIALS_REFUSED,
            "spec.temporal.tls.secretName",
            id="inline-client-certificate",
        ),
        pytest.param(
            {"address": "scan.example:22"},
            [],
            replace(CONFIG, allowed_temporal_addresses=("a.example:7233",)),
            Reason.ADDRESS_NOT_ALLOWED,
            "spec.temporal.address",
            id="address-outside-the-allow-list",
        ),
    ],
)
def test_what_a_queue_may_not_use_is_refused_naming_the_field(
    temporal: dict[str, Any],
    connections: list[dict[str, Any]],
    config: OperatorConfig,
    reason: str,
    field: str,
) -> None:
    refused = resolve("ns", spec_of(**temporal), lookup_of(*connections), config)
    assert isinstance(refused, Refusal)
    assert refused.reason == reason
    assert refused.message.startswith(f"{field}: ")


def test_inline_credentials_pass_only_with_the_transition_setting() -> None:
    spec = spec_of(tls={"secretName": "client-cert"})
    allowed = replace(CONFIG, allow_inline_credentials=True)
    assert resolve("ns", spec, lookup_of(), allowed) == spec


def test_the_allow_list_always_admits_the_default_address_and_plain_queues() -> None:
    config = replace(CONFIG, allowed_temporal_addresses=("a.example:7233",))
    for spec in (
        spec_of(address=str(CONFIG.temporal_address)),
        spec_of(),
        spec_of(address="a.example:7233"),
    ):
        assert resolve("ns", spec, lookup_of(), config) == spec


# ---- the reconciler's plan ------------------------------------------------------------------


def reconciler(cache: Cache, config: OperatorConfig = CONFIG) -> Reconciler:
    async def blocking(function: Any, /, *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    return Reconciler(
        config=config,
        kube=KubeApi(None),
        cache=cache,
        metrics=OperatorMetrics(),
        blocking=blocking,
        clock=lambda: NOW,
    )


def test_a_queue_on_a_connection_gets_its_secrets_by_reference() -> None:
    cache = Cache()
    cache.connection_seen("ADDED", connection_body())
    _, plan = reconciler(cache).plan(
        body(temporal={"connectionRef": {"name": "cloud"}}), Observed(now=NOW, keda_installed=True)
    )
    env = env_of(plan.desired["Deployment"])
    assert env["TEMPORAL_ADDRESS"] == "acme.a1b2c.tmprl.cloud:7233"
    assert env["TEMPORAL_API_KEY"] == {"secretKeyRef": {"name": "cloud-key", "key": "api-key"}}
    refs = plan.desired["TriggerAuthentication"]["spec"]["secretTargetRef"]
    assert refs == [{"parameter": "apiKey", "name": "cloud-key", "key": "api-key"}]


def test_a_refused_queue_touches_nothing_and_warns() -> None:
    _, plan = reconciler(Cache()).plan(
        body(temporal={"apiKeySecret": {"name": "any-secret"}}), Observed(now=NOW)
    )
    assert not plan.apply
    assert not plan.delete
    assert not plan.desired
    ready = conditions(plan)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", Reason.INLINE_CREDENTIALS_REFUSED)
    assert [e.type for e in plan.events] == ["Warning"]


def test_a_connection_change_asks_for_a_pass_of_the_queues_using_it() -> None:
    cache = Cache()
    cache.queue_seen(body(temporal={"connectionRef": {"name": "cloud"}}))
    cache.queue_seen({**body(), "metadata": {"namespace": "ns", "name": "plain", "uid": "u"}})
    assert cache.connection_seen("ADDED", connection_body()) == [("ns", "orders")]
    assert cache.connection_seen("MODIFIED", connection_body()) == []  # same spec
    assert cache.connection_seen("MODIFIED", connection_body(spec={"address": "t:7233"})) == [
        ("ns", "orders")
    ]
    assert cache.connection_seen("ADDED", connection_body(namespace="other")) == []
    assert cache.connection_seen("DELETED", connection_body()) == [("ns", "orders")]
    assert cache.connection("ns", "cloud") is None


# ---- Secrets: read only when allowed, never shown -------------------------------------------


class RefusingKube(KubeApi):
    """The API server's answers to a Secret read, recorded."""

    def __init__(self, status: int) -> None:
        super().__init__(None)
        self.status = status
        self.reads: list[tuple[str, str, str]] = []

    def read_secret_value(self, namespace: str, name: str, key: str) -> bytes:
        self.reads.append((namespace, name, key))
        raise KubeError(
            f"GET /api/v1/namespaces/{namespace}/secrets/{name}: forbidden", status=self.status
        )


def refresh(kube: RefusingKube, queue: dict[str, Any], *connections: dict[str, Any]) -> Any:
    cache = Cache()
    for connection in connections:
        cache.connection_seen("ADDED", connection)
    cache.queue_seen(queue)

    async def blocking(function: Any, /, *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    monitor = BacklogMonitor(
        config=CONFIG,
        kube=kube,
        cache=cache,
        reader=BacklogReader(timeout_seconds=1),
        metrics=OperatorMetrics(),
        blocking=blocking,
        clock=lambda: datetime.now(UTC),
    )
    asyncio.run(monitor.refresh(("ns", "orders")))
    state = cache.queue(("ns", "orders"))
    assert state is not None
    return state.temporal


def test_a_forbidden_secret_read_says_so_and_what_to_grant() -> None:
    kube = RefusingKube(403)
    check = refresh(kube, body(temporal={"connectionRef": {"name": "cloud"}}), connection_body())
    assert kube.reads == [("ns", "cloud-key", "api-key")]
    assert check.secret_problem
    assert not check.reachable
    assert "may not read Secret ns/cloud-key (named by TemporalConnection 'cloud'): forbidden" in (
        check.error
    )
    assert "operator.secretNamespaces" in check.error


def test_a_refused_queue_reads_no_secret_and_dials_nothing() -> None:
    kube = RefusingKube(403)
    queue = body(temporal={"address": "evil.example:443", "apiKeySecret": {"name": "any"}})
    assert refresh(kube, queue) is None
    assert kube.reads == []


def test_key_material_stays_out_of_reprs_but_not_out_of_the_client_key() -> None:
    def query(api_key: str, client_key: bytes) -> BacklogQuery:
        return BacklogQuery(
            address="t:7233",
            namespace="n",
            task_queue="q",
            queue_types=("workflow",),
            tls=TLSMaterial(client_cert=b"CERT", client_key=client_key),
            api_key=api_key,
        )

    shown = repr(query("sekrit-token", b"PRIVATE-KEY"))
    for material in ("sekrit-token", "PRIVATE-KEY", "CERT"):
        assert material not in shown
    # A rotated key or certificate must still get its own client.
    assert query("a", b"k").client_key() != query("b", b"k").client_key()
    assert query("a", b"k").client_key() != query("a", b"j").client_key()


# ---- the CRDs -------------------------------------------------------------------------------


def _schema(crd: str) -> dict[str, Any]:
    document = yaml.safe_load((REPO / "k8s" / "crd" / crd).read_text())
    schema: dict[str, Any] = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_both_crds_enforce_the_same_address_rule() -> None:
    queue = _schema("workflowqueues.queuefleet.dev.yaml")["properties"]["spec"]["properties"]
    connection = _schema("temporalconnections.queuefleet.dev.yaml")["properties"]["spec"]
    (queue_rule,) = queue["temporal"]["properties"]["address"]["x-kubernetes-validations"]
    (connection_rule,) = connection["properties"]["address"]["x-kubernetes-validations"]
    assert queue_rule["rule"] == connection_rule["rule"]
    assert "65535" in queue_rule["message"]
    assert queue_rule["message"].startswith("spec.temporal.address ")
    assert connection_rule["message"].startswith("spec.address ")
    # TLS and API key: the same shape in both, so one parser reads them.
    for name in ("tls", "apiKeySecret", "namespace"):
        assert set(connection["properties"][name].get("properties", {})) == set(
            queue["temporal"]["properties"][name].get("properties", {})
        )
