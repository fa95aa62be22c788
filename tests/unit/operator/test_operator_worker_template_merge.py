"""spec.worker.template, the operator's worker-pod defaults and its policy, without a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from queuefleet_operator.conditions import Reason
from queuefleet_operator.config import OperatorConfig
from queuefleet_operator.drift import fingerprint
from queuefleet_operator.manifests import Target, config_hash, worker_deployment
from queuefleet_operator.planner import policy_violation
from queuefleet_operator.spec import QueueIdentity, SpecError, parse_spec, quantity

QUEUE = QueueIdentity(namespace="ns", name="orders", uid="u")
TARGET = Target(
    temporal_address="temporal:7233",
    temporal_namespace="default",
    image="registry.example/worker:1",
    image_pull_secrets=("chart-registry",),
    pod_labels=(("cost-center", "42"), ("team", "platform")),
    pod_annotations=(("example.com/scrape", "yes"),),
)
INVALID = Path(__file__).resolve().parents[2] / "cluster" / "operator" / "invalid"


def pod(worker: dict[str, Any]) -> dict[str, Any]:
    spec = parse_spec({"taskQueue": "orders", "worker": worker})
    template: dict[str, Any] = worker_deployment(QUEUE, spec, TARGET, fixed_replicas=1)["spec"][
        "template"
    ]
    return template


def test_template_merges_under_the_operators_fields() -> None:
    template = pod(
        {
            "template": {
                "metadata": {"labels": {"team": "payments"}, "annotations": {"a": "b"}},
                "spec": {
                    "imagePullSecrets": [{"name": "team"}, {"name": "chart-registry"}],
                    "containers": [
                        {"name": "worker", "envFrom": [{"secretRef": {"name": "extra"}}]},
                        {"name": "proxy", "image": "registry.example/envoy:1"},
                    ],
                },
            }
        }
    )
    labels = template["metadata"]["labels"]
    assert labels["team"] == "payments"  # the queue's template over the chart's default
    assert labels["cost-center"] == "42"
    assert labels["app.kubernetes.io/instance"] == "orders"
    assert template["metadata"]["annotations"] == {"example.com/scrape": "yes", "a": "b"}
    spec = template["spec"]
    assert spec["imagePullSecrets"] == [{"name": "chart-registry"}, {"name": "team"}]
    worker, proxy = spec["containers"]
    assert worker["image"] == TARGET.image
    assert worker["envFrom"] == [{"secretRef": {"name": "extra"}}]
    # The operator's env is explicit, so it wins over anything envFrom brings.
    assert any(e["name"] == "TEMPORAL_ADDRESS" for e in worker["env"])
    assert proxy["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def test_no_template_no_pull_secrets_means_no_extra_fields() -> None:
    bare = Target(temporal_address="t:7233", temporal_namespace="default", image="w:1")
    spec = parse_spec({"taskQueue": "orders"})
    template = worker_deployment(QUEUE, spec, bare, fixed_replicas=1)["spec"]["template"]
    assert "imagePullSecrets" not in template["spec"]
    assert "initContainers" not in template["spec"]
    assert "annotations" not in template["metadata"]
    assert len(template["spec"]["containers"]) == 1


def test_the_hash_and_the_drift_fingerprint_cover_the_template() -> None:
    def deployment(image: str) -> dict[str, Any]:
        sidecar = {"name": "proxy", "image": image}
        worker = {"template": {"spec": {"containers": [sidecar]}}}
        spec = parse_spec({"taskQueue": "orders", "worker": worker})
        return worker_deployment(QUEUE, spec, TARGET, fixed_replicas=1)

    before, after = deployment("envoy:1"), deployment("envoy:2")
    assert config_hash(before) != config_hash(after)
    # A hand-edited sidecar image in the live object is drift.
    assert fingerprint(after, before) != fingerprint(before, before)


@pytest.mark.parametrize(
    ("worker", "field"),
    [
        ({"template": {"spec": {"containers": [{"name": "worker", "image": "x"}]}}}, "image"),
        (
            {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "worker", "volumeMounts": [{"name": "v", "mountPath": "/tmp"}]}
                        ]
                    }
                }
            },
            "volumeMounts",
        ),
        ({"template": {"spec": {"volumes": [{"name": "tmp", "emptyDir": {}}]}}}, "volumes[0]"),
        ({"template": {"spec": {"containers": [{"name": "proxy"}]}}}, "containers[0].image"),
        ({"template": {"metadata": {"labels": {"app.kubernetes.io/name": "x"}}}}, "labels"),
        ({"priorityClassName": "High_Priority"}, "spec.worker.priorityClassName"),
        ({"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}}, "requests.cpu"),
    ],
)
def test_what_the_crd_refuses_the_operator_refuses_naming_the_field(
    worker: dict[str, Any], field: str
) -> None:
    with pytest.raises(SpecError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_spec({"taskQueue": "orders", "worker": worker})


def test_every_refused_template_in_the_cluster_corpus_that_parses_is_crd_only() -> None:
    """Schema-level refusals (unknown fields) never reach the operator; CEL ones it mirrors."""
    for path in sorted(INVALID.glob("template-*.yaml")):
        body = yaml.safe_load(path.read_text())
        expect = path.read_text().splitlines()[0]
        if "unknown field" in expect or "securityContext" in expect:
            continue  # pruned by the structural schema, or a rule on a container's context
        with pytest.raises(SpecError):
            parse_spec(body["spec"])


@pytest.mark.parametrize(
    ("text", "value"),
    [("1500m", 1.5), ("1Gi", 2**30), (2, 2), ("1e3", 1000), ("512Mi", 512 * 2**20)],
)
def test_quantities(text: Any, value: float) -> None:
    assert quantity(text) == value


def test_requests_up_to_the_limit_are_fine() -> None:
    resources = {"requests": {"cpu": 1, "memory": "512Mi"}, "limits": {"memory": "0.5Gi"}}
    parse_spec({"taskQueue": "q", "worker": {"resources": resources}})


def test_policy_names_the_field_and_the_reason() -> None:
    config = OperatorConfig(
        allowed_image_prefixes=("registry.example/",), allowed_service_accounts=("orders",)
    )
    ok = parse_spec({"taskQueue": "q", "worker": {"serviceAccountName": "orders"}})
    assert policy_violation(ok, config) is None
    init = {"name": "setup", "image": "docker.io/busybox:1"}
    bad = parse_spec(
        {"taskQueue": "q", "worker": {"template": {"spec": {"initContainers": [init]}}}}
    )
    refused = policy_violation(bad, config)
    assert refused is not None
    assert refused.reason == Reason.IMAGE_NOT_ALLOWED
    assert refused.message.startswith("spec.worker.template.spec.initContainers[setup].image")
    account = parse_spec({"taskQueue": "q", "worker": {"serviceAccountName": "admin"}})
    refused = policy_violation(account, config)
    assert refused is not None
    assert refused.reason == Reason.SERVICE_ACCOUNT_NOT_ALLOWED
    # The operator's own default image is trusted; no policy means anything goes.
    assert policy_violation(parse_spec({"taskQueue": "q"}), config) is None
    assert policy_violation(bad, OperatorConfig()) is None
