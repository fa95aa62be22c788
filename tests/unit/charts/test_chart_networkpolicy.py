"""NetworkPolicies: every peer is named, KEDA is matched by namespace and labels together,
and an empty peer list admits nobody (a rule without `from` would admit every source)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.charts.helmchart import Manifest, Rendered, render

# The namespace name label, escaped for --set.
NAMESPACE_LABEL = "kubernetes\\.io/metadata\\.name"
ON = {"networkPolicy.enabled": "true"}
API_SERVER = {
    "networkPolicy.egress.enabled": "true",
    "networkPolicy.egress.apiServer[0].cidr": "10.96.0.1/32",
    "networkPolicy.egress.apiServer[0].port": "443",
}


def _policies(tmp_path: Path, **set_values: str) -> dict[str, Manifest]:
    rendered = Rendered(render(home=tmp_path, set_values={**ON, **set_values}))
    return {obj["metadata"]["name"]: obj for obj in rendered.of_kind("NetworkPolicy")}


def _peers(policy: Manifest) -> list[dict[str, Any]]:
    return [peer for rule in policy["spec"].get("ingress", []) for peer in rule["from"]]


def test_every_ingress_rule_names_its_peers(tmp_path: Path) -> None:
    policies = _policies(tmp_path)
    assert set(policies) == {
        "qf-queuefleet-temporal",
        "qf-queuefleet-temporal-ui",
        "qf-queuefleet-operator",
        "qf-queuefleet-workers",
    }
    for name, policy in policies.items():
        assert policy["spec"]["policyTypes"] == ["Ingress"], name
        for rule in policy["spec"]["ingress"]:
            assert rule.get("from"), f"{name}: a rule without peers admits every source"


def test_empty_peer_lists_admit_nobody(tmp_path: Path) -> None:
    policies = _policies(tmp_path)
    # Nothing may reach the UI, the operator or the workers when no peer is configured.
    for name in ("qf-queuefleet-temporal-ui", "qf-queuefleet-operator", "qf-queuefleet-workers"):
        assert policies[name]["spec"]["ingress"] == [], name
    temporal_ports = [
        port["port"]
        for rule in policies["qf-queuefleet-temporal"]["spec"]["ingress"]
        for port in rule["ports"]
    ]
    assert "metrics" not in temporal_ports


def test_keda_is_matched_by_namespace_and_pod_labels_together(tmp_path: Path) -> None:
    policies = _policies(tmp_path, **{"networkPolicy.keda.namespace": "autoscaling"})
    keda = [
        peer for peer in _peers(policies["qf-queuefleet-temporal"]) if "namespaceSelector" in peer
    ]
    assert keda == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "autoscaling"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "keda-operator"}},
        }
    ]
    # Every other peer is a pod of the release namespace (a podSelector alone).
    others = [peer for peer in _peers(policies["qf-queuefleet-temporal"]) if peer not in keda]
    assert others
    assert all(set(peer) == {"podSelector"} for peer in others)


def test_configured_peers_are_admitted_on_their_port_only(tmp_path: Path) -> None:
    monitoring = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    }
    policies = _policies(
        tmp_path,
        **{
            f"networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.{NAMESPACE_LABEL}": (
                "monitoring"
            ),
        },
    )
    for name in ("qf-queuefleet-operator", "qf-queuefleet-workers"):
        assert policies[name]["spec"]["ingress"] == [
            {"ports": [{"port": "metrics"}], "from": [monitoring]}
        ], name


def test_egress_restricts_operator_and_workers_to_dns_temporal_and_the_api_server(
    tmp_path: Path,
) -> None:
    policies = _policies(
        tmp_path,
        **API_SERVER,
        **{
            "networkPolicy.egress.workerTo[0].to[0].ipBlock.cidr": "10.20.0.0/16",
            "networkPolicy.egress.workerTo[0].ports[0].port": "5432",
        },
    )
    operator = policies["qf-queuefleet-operator"]["spec"]
    workers = policies["qf-queuefleet-workers"]["spec"]
    assert operator["policyTypes"] == workers["policyTypes"] == ["Ingress", "Egress"]
    destinations = [rule["to"][0] for rule in operator["egress"]]
    assert destinations[0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
    }
    assert destinations[1] == {
        "podSelector": {
            "matchLabels": {
                "app.kubernetes.io/name": "queuefleet",
                "app.kubernetes.io/instance": "qf",
                "app.kubernetes.io/component": "temporal",
            }
        }
    }
    assert operator["egress"][2] == {
        "to": [{"ipBlock": {"cidr": "10.96.0.1/32"}}],
        "ports": [{"port": 443, "protocol": "TCP"}],
    }
    assert len(operator["egress"]) == 3
    # Workers: DNS, Temporal, then their own rule; never the API server.
    assert workers["egress"][:2] == operator["egress"][:2]
    assert workers["egress"][2:] == [
        {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 5432}]}
    ]


@pytest.mark.parametrize("address", ["temporal.example.internal:7233", "ns.a1b2c.tmprl.cloud:443"])
def test_external_egress_goes_to_the_listed_cidrs_on_the_address_port(
    tmp_path: Path, address: str
) -> None:
    policies = _policies(
        tmp_path,
        **API_SERVER,
        **{
            "temporal.mode": "external",
            "temporal.external.address": address,
            "networkPolicy.egress.temporalCidrs[0]": "203.0.113.0/24",
        },
    )
    assert "qf-queuefleet-temporal" not in policies
    temporal_rule = policies["qf-queuefleet-workers"]["spec"]["egress"][1]
    assert temporal_rule == {
        "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
        "ports": [{"port": int(address.rsplit(":", 1)[1]), "protocol": "TCP"}],
    }
