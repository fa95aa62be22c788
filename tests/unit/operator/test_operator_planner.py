"""The planner, table-style: spec + observed state in, children + status out. No cluster."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from queuefleet_operator import constants
from queuefleet_operator.conditions import Reason
from queuefleet_operator.config import OperatorConfig
from queuefleet_operator.drift import fingerprint
from queuefleet_operator.observed import (
    Applied,
    BacklogReading,
    ConditionView,
    Observed,
    ScaledObjectState,
    TemporalCheck,
    child_snapshot,
)
from queuefleet_operator.planner import Plan, plan_from_body, with_apply_failure
from queuefleet_worker import contract

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
EARLIER = "2026-01-01T00:00:00Z"
CONFIG = OperatorConfig(
    temporal_address="temporal-frontend.temporal:7233",
    temporal_namespace="default",
    worker_image="ghcr.io/acme/worker:1.2.3",
)
UID = "0b6b7a52-0000-4000-8000-000000000001"


def body(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "metadata": {"namespace": "ns", "name": "orders", "uid": UID, "generation": 3},
        "spec": {"taskQueue": "orders-tq", **spec},
    }


def observed(**overrides: Any) -> Observed:
    return replace(Observed(now=NOW, keda_installed=True), **overrides)


def run(spec_body: dict[str, Any], state: Observed, config: OperatorConfig = CONFIG) -> Plan:
    return plan_from_body(spec_body, config, state)[1]


def conditions(plan: Plan) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in plan.status["conditions"]}


def live(manifest: dict[str, Any], **status: Any) -> dict[str, Any]:
    """The object as the API server would return it after applying `manifest`."""
    obj = copy.deepcopy(manifest)
    obj["metadata"]["generation"] = 1
    obj["status"] = status
    return obj


def converged(spec_body: dict[str, Any], **extra: Any) -> Observed:
    """Observed state in which every desired child exists exactly as planned."""
    first = run(spec_body, observed(**extra))
    bodies = converged_bodies(spec_body, **extra)
    return observed(
        children={kind: child_snapshot(live) for kind, live in bodies.items()},
        applied={
            kind: Applied(
                config_hash=manifest["metadata"]["annotations"][constants.CONFIG_HASH_ANNOTATION],
                fingerprint=fingerprint(bodies[kind], manifest),
            )
            for kind, manifest in first.desired.items()
        },
        **extra,
    )


def converged_bodies(spec_body: dict[str, Any], **extra: Any) -> dict[str, dict[str, Any]]:
    """The children as the API server returns them once applied and rolled out."""
    first = run(spec_body, observed(**extra))
    children = {kind: live(manifest) for kind, manifest in first.desired.items()}
    if constants.SCALED_OBJECT.kind in children:  # KEDA accepted it
        children[constants.SCALED_OBJECT.kind]["status"] = {
            "conditions": [{"type": "Ready", "status": "True", "reason": "ScaledObjectReady"}]
        }
    deployment = first.desired[constants.DEPLOYMENT.kind]
    children[constants.DEPLOYMENT.kind] = live(
        {**deployment, "spec": {**deployment["spec"], "replicas": 2}},
        replicas=2,
        readyReplicas=2,
        updatedReplicas=2,
        observedGeneration=1,
        conditions=[{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
    )
    return children


# ---- which children exist --------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "state", "kinds"),
    [
        pytest.param(
            {}, observed(), {"Deployment", "ScaledObject", "PodDisruptionBudget"}, id="keda"
        ),
        pytest.param(
            {}, observed(keda_installed=False), {"Deployment", "PodDisruptionBudget"}, id="no-keda"
        ),
        pytest.param(
            {"scaling": {"minReplicas": 0, "maxReplicas": 1}},
            observed(),
            {"Deployment", "ScaledObject"},
            id="max-1-no-pdb",
        ),
        pytest.param(
            {},
            observed(prometheus_operator_installed=True),
            {"Deployment", "ScaledObject", "PodDisruptionBudget", "PodMonitor"},
            id="podmonitor",
        ),
        pytest.param(
            {"temporal": {"apiKeySecret": {"name": "cloud", "key": "k"}}},
            observed(),
            {"Deployment", "ScaledObject", "PodDisruptionBudget", "TriggerAuthentication"},
            id="api-key-trigger-auth",
        ),
        pytest.param(
            {"temporal": {"tls": {"secretName": "mtls"}}},
            observed(),
            {"Deployment", "ScaledObject", "PodDisruptionBudget", "TriggerAuthentication"},
            id="mtls-trigger-auth",
        ),
        pytest.param(
            {"temporal": {"tls": {"secretName": "mtls"}}},
            observed(keda_installed=False),
            {"Deployment", "PodDisruptionBudget"},
            id="mtls-without-keda",
        ),
    ],
)
def test_desired_children(spec: dict[str, Any], state: Observed, kinds: set[str]) -> None:
    result = run(body(**spec), state)
    assert set(result.desired) == kinds
    assert {m["kind"] for m in result.apply} == kinds  # nothing exists yet: apply all
    # Apply order: referenced objects first.
    order = [m["kind"] for m in result.apply]
    if "TriggerAuthentication" in order:
        assert order.index("TriggerAuthentication") < order.index("ScaledObject")


def test_every_child_is_owned_labelled_and_hashed() -> None:
    result = run(
        body(temporal={"apiKeySecret": {"name": "cloud"}}),
        observed(prometheus_operator_installed=True),
    )
    for manifest in result.desired.values():
        meta = manifest["metadata"]
        assert meta["namespace"] == "ns"
        assert meta["name"].startswith("orders-")
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "queuefleet.dev/v1alpha1",
                "kind": "WorkflowQueue",
                "name": "orders",
                "uid": UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert meta["labels"][constants.LABEL_NAME] == "queuefleet-worker"
        assert meta["labels"][constants.LABEL_INSTANCE] == "orders"
        assert meta["labels"][constants.LABEL_MANAGED_BY] == "queuefleet-operator"
        assert meta["labels"][constants.LABEL_PART_OF] == "queuefleet"
        assert meta["labels"][constants.LABEL_VERSION] == "1.2.3"
        assert len(meta["annotations"][constants.CONFIG_HASH_ANNOTATION]) == 16


def test_names_are_deterministic() -> None:
    first = run(body(), observed())
    second = run(body(), observed())
    assert first.desired == second.desired


# ---- the Deployment ---------------------------------------------------------------------


def deployment_of(result: Plan) -> dict[str, Any]:
    return result.desired[constants.DEPLOYMENT.kind]


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize(
    ("keda", "scaling", "replicas"),
    [
        (True, {}, None),
        (True, {"minReplicas": 0}, None),
        (False, {"minReplicas": 0}, 1),
        (False, {"minReplicas": 4}, 4),
        (False, {}, 1),
    ],
)
def test_replicas_belong_to_the_hpa_when_keda_is_there(
    keda: bool, scaling: dict[str, Any], replicas: int | None
) -> None:
    spec = deployment_of(run(body(scaling=scaling), observed(keda_installed=keda)))["spec"]
    assert spec.get("replicas") == replicas


def test_pod_template_meets_restricted_pod_security() -> None:
    pod = deployment_of(run(body(), observed()))["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] > 0
    tmp = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}["/tmp"]
    assert {"name": tmp, "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    assert not any("hostPath" in v for v in pod["volumes"])
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("seconds", [0, 30, 600])
def test_grace_period_follows_the_worker_contract(seconds: int) -> None:
    result = run(body(worker={"gracefulShutdownSeconds": seconds}), observed())
    pod = deployment_of(result)["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == contract.termination_grace_period_seconds(
        seconds
    )
    assert env_of(deployment_of(result))[contract.ENV_GRACEFUL_SHUTDOWN_SECONDS] == str(seconds)


def test_probes_use_the_worker_endpoints() -> None:
    container = deployment_of(run(body(), observed()))["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["health"] == contract.DEFAULT_HEALTH_PORT
    assert ports["metrics"] == contract.DEFAULT_METRICS_PORT
    assert container["livenessProbe"]["httpGet"] == {"path": contract.HEALTH_PATH, "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": contract.READY_PATH, "port": "health"}


def test_env_carries_the_contract_and_defaults() -> None:
    spec = {
        "worker": {
            "registrars": ["acme.orders:registrar", "acme.billing:registrar"],
            "concurrency": {"maxConcurrentActivities": 7, "maxConcurrentWorkflowTasks": 3},
            "deploymentName": "orders",
            "buildId": "v42",
            "env": [{"name": "ACME_MODE", "value": "fast"}],
        }
    }
    env = env_of(deployment_of(run(body(**spec), observed())))
    assert env[contract.ENV_TASK_QUEUE] == "orders-tq"
    assert env[contract.ENV_TEMPORAL_ADDRESS] == CONFIG.temporal_address
    assert env[contract.ENV_TEMPORAL_NAMESPACE] == "default"
    assert env[contract.ENV_REGISTRARS] == "acme.orders:registrar,acme.billing:registrar"
    assert env[contract.ENV_MAX_CONCURRENT_ACTIVITIES] == "7"
    assert env[contract.ENV_MAX_CONCURRENT_WORKFLOW_TASKS] == "3"
    assert env[contract.ENV_DEPLOYMENT_NAME] == "orders"
    assert env[contract.ENV_BUILD_ID] == "v42"
    assert env["ACME_MODE"] == "fast"
    assert contract.ENV_TEMPORAL_TLS not in env
    assert contract.ENV_TEMPORAL_API_KEY not in env


def test_secrets_are_referenced_never_inlined() -> None:
    spec = {
        "temporal": {
            "address": "acme.tmprl.cloud:7233",
            "namespace": "acme.prod",
            "tls": {"secretName": "mtls", "caKey": "ca.crt", "serverName": "acme.tmprl.cloud"},
            "apiKeySecret": {"name": "cloud-key", "key": "token"},
        }
    }
    result = run(body(**spec), observed())
    deployment = deployment_of(result)
    env = env_of(deployment)
    assert env[contract.ENV_TEMPORAL_API_KEY] == {
        "secretKeyRef": {"name": "cloud-key", "key": "token"}
    }
    assert env[contract.ENV_TEMPORAL_TLS] == "true"
    assert env[contract.ENV_TEMPORAL_TLS_CLIENT_CERT_PATH] == f"{constants.TLS_MOUNT_PATH}/tls.crt"
    assert env[contract.ENV_TEMPORAL_TLS_CLIENT_KEY_PATH] == f"{constants.TLS_MOUNT_PATH}/tls.key"
    assert (
        env[contract.ENV_TEMPORAL_TLS_SERVER_CA_CERT_PATH] == f"{constants.TLS_MOUNT_PATH}/ca.crt"
    )
    assert env[contract.ENV_TEMPORAL_TLS_SERVER_NAME] == "acme.tmprl.cloud"
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "temporal-tls", "secret": {"secretName": "mtls"}} in pod["volumes"]
    mount = next(v for v in pod["containers"][0]["volumeMounts"] if v["name"] == "temporal-tls")
    assert mount["readOnly"] is True

    auth = result.desired[constants.TRIGGER_AUTHENTICATION.kind]
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "cert", "name": "mtls", "key": "tls.crt"},
        {"parameter": "key", "name": "mtls", "key": "tls.key"},
        {"parameter": "ca", "name": "mtls", "key": "ca.crt"},
        {"parameter": "apiKey", "name": "cloud-key", "key": "token"},
    ]
    trigger = result.desired[constants.SCALED_OBJECT.kind]["spec"]["triggers"][0]
    assert trigger["authenticationRef"] == {
        "name": "orders-temporal",
        "kind": "TriggerAuthentication",
    }
    assert trigger["metadata"]["tlsServerName"] == "acme.tmprl.cloud"
    assert trigger["metadata"]["enableTLS"] == "true"


def test_an_api_key_implies_tls_for_workers_and_autoscaler() -> None:
    # The Temporal Go SDK (KEDA's scaler) turns TLS on whenever an API key is set, and
    # Temporal Cloud accepts API keys only over TLS: the workers must agree.
    result = run(body(temporal={"apiKeySecret": {"name": "cloud-key"}}), observed())
    env = env_of(deployment_of(result))
    assert env[contract.ENV_TEMPORAL_TLS] == "true"
    assert contract.ENV_TEMPORAL_TLS_CLIENT_CERT_PATH not in env  # no client certificate
    assert contract.ENV_TEMPORAL_TLS_SERVER_CA_CERT_PATH not in env  # system trust roots
    pod = deployment_of(result)["spec"]["template"]["spec"]
    assert "temporal-tls" not in {v["name"] for v in pod.get("volumes", [])}
    trigger = result.desired[constants.SCALED_OBJECT.kind]["spec"]["triggers"][0]
    assert trigger["metadata"]["enableTLS"] == "true"
    auth = result.desired[constants.TRIGGER_AUTHENTICATION.kind]
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "apiKey", "name": "cloud-key", "key": "api-key"}
    ]


def test_new_queue_gets_one_event_naming_every_child() -> None:
    result = run(body(), observed())
    created = [e for e in result.events if e.reason == "Created"]
    assert len(created) == 1
    assert created[0].message == (
        "Deployment orders-worker, ScaledObject orders-worker, "
        "PodDisruptionBudget orders-worker applied"
    )
    # Waiting for the first workers is expected, not a warning.
    assert [e for e in result.events if e.type == "Warning"] == []


def test_spec_overrides_operator_defaults() -> None:
    spec = {
        "temporal": {"address": "other:7233", "namespace": "prod"},
        "worker": {"image": "me/w:9"},
    }
    deployment = deployment_of(run(body(**spec), observed()))
    env = env_of(deployment)
    assert env[contract.ENV_TEMPORAL_ADDRESS] == "other:7233"
    assert env[contract.ENV_TEMPORAL_NAMESPACE] == "prod"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "me/w:9"


# ---- the ScaledObject -------------------------------------------------------------------


def test_scaled_object_uses_the_temporal_trigger() -> None:
    spec = {
        "scaling": {
            "minReplicas": 0,
            "maxReplicas": 30,
            "targetBacklogPerReplica": 8,
            "activationBacklog": 2,
            "queueTypes": ["workflow", "activity", "nexus"],
            "pollingIntervalSeconds": 5,
            "cooldownSeconds": 120,
            "scaleDownStabilizationSeconds": 60,
            "fallback": {"replicas": 3, "failureThreshold": 4},
        },
        "worker": {"deploymentName": "orders", "buildId": "v42"},
    }
    so = run(body(**spec), observed()).desired[constants.SCALED_OBJECT.kind]["spec"]
    assert so["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "orders-worker",
    }
    assert (so["minReplicaCount"], so["maxReplicaCount"]) == (0, 30)
    assert (so["pollingInterval"], so["cooldownPeriod"]) == (5, 120)
    assert so["fallback"] == {"failureThreshold": 4, "replicas": 3}
    behavior = so["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior == {"scaleDown": {"stabilizationWindowSeconds": 60}}
    (trigger,) = so["triggers"]
    assert trigger["type"] == "temporal"
    assert "authenticationRef" not in trigger
    assert trigger["metadata"] == {
        "endpoint": CONFIG.temporal_address,
        "namespace": "default",
        "taskQueue": "orders-tq",
        "targetQueueSize": "8",
        "activationTargetQueueSize": "2",
        "queueTypes": "workflow,activity,nexus",
        "workerDeploymentName": "orders",
        "workerDeploymentBuildId": "v42",
    }
    assert all(isinstance(v, str) for v in trigger["metadata"].values())


# ---- convergence, drift and deletion ----------------------------------------------------


def test_converged_state_applies_nothing() -> None:
    state = converged(body())
    result = run(body(), state)
    assert result.apply == ()
    assert result.delete == ()


def edited(spec_body: dict[str, Any], kind: str, edit: Any) -> Observed:
    """The converged state, with one child's live object changed by `edit` (in place)."""
    state = converged(spec_body)
    body_of_child = copy.deepcopy(converged_bodies(spec_body)[kind])
    edit(body_of_child)
    body_of_child["metadata"]["generation"] += 1
    return replace(state, children={**state.children, kind: child_snapshot(body_of_child)})


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return found


def _restart(deployment: dict[str, Any]) -> None:
    template = deployment["spec"]["template"]["metadata"]
    template["annotations"] = {"kubectl.kubernetes.io/restartedAt": "2026-01-02T03:04:05Z"}


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: d["spec"].__setitem__("replicas", 7), id="hpa-scale"),
        pytest.param(_restart, id="rollout-restart"),
        pytest.param(
            lambda d: d["metadata"]["labels"].__setitem__("team", "payments"), id="extra-label"
        ),
        pytest.param(
            lambda d: container(d).__setitem__("terminationMessagePath", "/dev/termination-log"),
            id="server-default",
        ),
    ],
)
def test_changes_to_fields_we_do_not_set_are_not_drift(edit: Any) -> None:
    state = edited(body(), "Deployment", edit)
    result = run(body(), state)
    assert result.apply == ()
    assert "DriftRepaired" not in {e.reason for e in result.events}


def _env_value(deployment: dict[str, Any]) -> None:
    container(deployment)["env"][0]["value"] = "someone-elses-queue"


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: container(d).__setitem__("image", "evil:1"), id="image"),
        pytest.param(
            lambda d: container(d)["readinessProbe"].__setitem__("periodSeconds", 60), id="probe"
        ),
        pytest.param(_env_value, id="env-value"),
        pytest.param(lambda d: container(d)["env"].pop(0), id="env-removed"),
    ],
)
def test_hand_edits_of_fields_we_set_are_drift(edit: Any) -> None:
    state = edited(body(), "Deployment", edit)
    result = run(body(), state)
    assert [m["kind"] for m in result.apply] == ["Deployment"]
    assert result.drifted == ("Deployment",)
    assert "DriftRepaired" in {e.reason for e in result.events}


@pytest.mark.parametrize(
    ("mutate", "kind", "event"),
    [
        pytest.param(
            lambda c: c.pop("Deployment"), "Deployment", "Created", id="deployment-deleted"
        ),
        pytest.param(lambda c: c.pop("ScaledObject"), "ScaledObject", "Created", id="so-deleted"),
        pytest.param(
            lambda c: c.__setitem__("ScaledObject", replace(c["ScaledObject"], config_hash="old")),
            "ScaledObject",
            "Updated",
            id="so-stale-config",
        ),
    ],
)
def test_missing_and_stale_children_are_applied(mutate: Any, kind: str, event: str) -> None:
    state = converged(body())
    children = dict(state.children)
    mutate(children)
    result = run(body(), replace(state, children=children))
    assert [m["kind"] for m in result.apply] == [kind]
    assert event in {e.reason for e in result.events}


def test_first_pass_after_restart_verifies_without_applying() -> None:
    state = replace(converged(body()), applied={})
    result = run(body(), state)
    assert result.apply == ()
    assert set(result.verified) == set(state.children)
    # What it verified is the baseline: a later hand edit is drift.
    later = replace(edited(body(), "Deployment", _env_value), applied=result.verified)
    assert run(body(), later).drifted == ("Deployment",)


def test_first_pass_after_restart_reapplies_quietly_what_differs() -> None:
    state = replace(
        edited(body(), "Deployment", lambda d: container(d).__setitem__("image", "x:1")),
        applied={},
    )
    result = run(body(), state)
    assert [m["kind"] for m in result.apply] == ["Deployment"]
    assert result.drifted == ()
    assert not {e.reason for e in result.events} & {"DriftRepaired", "Updated", "Created"}


def test_spec_change_updates_the_deployment_only() -> None:
    state = converged(body())
    result = run(body(worker={"image": "ghcr.io/acme/worker:2.0.0"}), state)
    kinds = {m["kind"] for m in result.apply}
    assert "Deployment" in kinds
    image = deployment_of(result)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "ghcr.io/acme/worker:2.0.0"


def test_children_no_longer_wanted_are_deleted() -> None:
    spec_with_key = body(temporal={"apiKeySecret": {"name": "cloud"}})
    state = converged(spec_with_key)
    assert "TriggerAuthentication" in state.children
    result = run(body(scaling={"maxReplicas": 1}), state)
    deleted = {(r.kind, r.name) for r in result.delete}
    assert deleted == {
        ("TriggerAuthentication", "orders-temporal"),
        ("PodDisruptionBudget", "orders-worker"),
    }


def test_children_of_another_owner_are_never_deleted() -> None:
    state = converged(body())
    pdb = replace(state.children["PodDisruptionBudget"], owner_uid="someone-else")
    result = run(
        body(scaling={"maxReplicas": 1}),
        replace(state, children={**state.children, "PodDisruptionBudget": pdb}),
    )
    assert result.delete == ()


# ---- status and conditions --------------------------------------------------------------


def test_converged_status_is_ready() -> None:
    result = run(body(), converged(body()))
    cond = conditions(result)
    assert cond["Ready"]["status"] == "True"
    assert cond["Ready"]["reason"] == Reason.RECONCILED
    assert cond["Available"]["reason"] == Reason.WORKERS_AVAILABLE
    assert cond["AutoscalerReady"]["reason"] == Reason.SCALED_OBJECT_READY
    assert cond["TemporalReachable"]["reason"] == Reason.NOT_CHECKED_YET
    assert all(c["observedGeneration"] == 3 for c in cond.values())
    status = result.status
    assert status["observedGeneration"] == 3
    assert (status["replicas"], status["readyReplicas"], status["desiredReplicas"]) == (2, 2, 2)
    assert status["children"] == {
        "deployment": "orders-worker",
        "scaledObject": "orders-worker",
        "podDisruptionBudget": "orders-worker",
    }


def test_keda_missing_is_a_clear_fallback() -> None:
    state = converged(body(), keda_installed=False)
    result = run(body(), state)
    cond = conditions(result)
    assert cond["AutoscalerReady"]["status"] == "False"
    assert cond["AutoscalerReady"]["reason"] == Reason.KEDA_NOT_INSTALLED
    assert "scaledobjects.keda.sh" in cond["AutoscalerReady"]["message"]
    # The fixed-size fleet is the documented fallback: it serves, so the queue is Ready.
    assert (cond["Ready"]["status"], cond["Ready"]["reason"]) == ("True", Reason.FIXED_REPLICAS)
    assert cond["Available"]["status"] == "True"


@pytest.mark.parametrize(
    "so_status",
    [
        pytest.param({}, id="keda-has-not-reported"),
        pytest.param(
            {"conditions": [{"type": "Ready", "status": "False", "message": "bad trigger"}]},
            id="keda-refused",
        ),
    ],
)
def test_a_scaled_object_keda_has_not_accepted_is_not_ready(so_status: dict[str, Any]) -> None:
    bodies = converged_bodies(body())
    bodies["ScaledObject"]["status"] = so_status
    state = replace(converged(body()), children={k: child_snapshot(v) for k, v in bodies.items()})
    ready = conditions(run(body(), state))["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", Reason.AUTOSCALER_NOT_READY)


def test_keda_appearing_recovers_by_itself() -> None:
    without = converged(body(), keda_installed=False)
    result = run(body(), replace(without, keda_installed=True))
    assert {m["kind"] for m in result.apply} >= {"ScaledObject", "Deployment"}
    assert "replicas" not in deployment_of(result)["spec"]


@pytest.mark.parametrize(
    ("so_status", "expected"),
    [
        (
            {"conditions": [{"type": "Ready", "status": "True"}]},
            ("True", Reason.SCALED_OBJECT_READY),
        ),
        (
            {"conditions": [{"type": "Ready", "status": "False", "message": "bad trigger"}]},
            ("False", Reason.SCALED_OBJECT_NOT_READY),
        ),
        ({}, ("Unknown", Reason.SCALED_OBJECT_PENDING)),
    ],
)
def test_autoscaler_follows_keda(so_status: dict[str, Any], expected: tuple[str, str]) -> None:
    state = converged(body())
    first = run(body(), state)
    so = child_snapshot(live(first.desired["ScaledObject"], **so_status))
    result = run(body(), replace(state, children={**state.children, "ScaledObject": so}))
    cond = conditions(result)["AutoscalerReady"]
    assert (cond["status"], cond["reason"]) == expected
    if expected[0] == "False":
        assert "bad trigger" in cond["message"]
        assert conditions(result)["Ready"]["status"] == "False"


@pytest.mark.parametrize(
    ("deployment_status", "spec_replicas", "expected"),
    [
        ({}, 2, ("Unknown", Reason.ROLLOUT_IN_PROGRESS)),
        (
            {
                "observedGeneration": 1,
                "conditions": [{"type": "Available", "status": "False", "message": "m"}],
            },
            2,
            ("False", Reason.MINIMUM_REPLICAS_UNAVAILABLE),
        ),
        (
            {
                "observedGeneration": 1,
                "conditions": [
                    {"type": "Available", "status": "True"},
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                    },
                ],
            },
            2,
            ("False", Reason.ROLLOUT_STALLED),
        ),
        (
            {"observedGeneration": 1, "conditions": [{"type": "Available", "status": "True"}]},
            0,
            ("True", Reason.SCALED_TO_ZERO),
        ),
    ],
)
def test_available_follows_the_deployment(
    deployment_status: dict[str, Any], spec_replicas: int, expected: tuple[str, str]
) -> None:
    state = converged(body())
    manifest = run(body(), state).desired["Deployment"]
    manifest = {**manifest, "spec": {**manifest["spec"], "replicas": spec_replicas}}
    deployment = child_snapshot(live(manifest, **deployment_status))
    result = run(body(), replace(state, children={**state.children, "Deployment": deployment}))
    cond = conditions(result)["Available"]
    assert (cond["status"], cond["reason"]) == expected
    ready = conditions(result)["Ready"]
    assert (ready["status"] == "True") == (expected[0] == "True")


def test_missing_deployment_is_pending() -> None:
    cond = conditions(run(body(), observed()))
    assert (cond["Available"]["status"], cond["Available"]["reason"]) == (
        "False",
        Reason.DEPLOYMENT_PENDING,
    )
    assert cond["Ready"]["reason"] == Reason.WORKERS_UNAVAILABLE


def test_last_transition_time_moves_only_on_status_change() -> None:
    state = converged(body())
    first = run(body(), state)
    previous = copy.deepcopy(dict(first.status))
    for c in previous["conditions"]:
        c["lastTransitionTime"] = EARLIER
    later = replace(state, now=NOW + timedelta(minutes=5), previous_status=previous)
    cond = conditions(run(body(), later))
    assert cond["Ready"]["lastTransitionTime"] == EARLIER  # still True
    scaled = state.children["ScaledObject"]
    refused = replace(scaled, scaled_object=ScaledObjectState(ready=ConditionView(status="False")))
    flipped = replace(later, children={**state.children, "ScaledObject": refused})
    cond = conditions(run(body(), flipped))
    assert cond["Ready"]["lastTransitionTime"] == "2026-01-02T03:09:05Z"  # True → False
    assert cond["Available"]["lastTransitionTime"] == EARLIER


def test_backlog_reading_lands_in_status() -> None:
    reading = BacklogReading(
        approximate_count=17,
        approximate_age_seconds=4.25,
        add_rate=1.5,
        dispatch_rate=0.0,
        observed_at=NOW,
    )
    state = replace(
        converged(body()),
        temporal=TemporalCheck(reachable=True, checked_at=NOW, reading=reading),
        last_reading=reading,
    )
    result = run(body(), state)
    assert result.status["backlog"] == {
        "approximateCount": 17,
        "approximateAgeSeconds": 4.25,
        "addRate": 1.5,
        "dispatchRate": 0.0,
        "observedAt": "2026-01-02T03:04:05Z",
    }
    assert conditions(result)["TemporalReachable"]["reason"] == Reason.BACKLOG_READ


def test_temporal_unreachable_does_not_block_reconciliation() -> None:
    old = {"approximateCount": 3, "observedAt": EARLIER}
    state = replace(
        observed(),
        temporal=TemporalCheck(reachable=False, checked_at=NOW, error="connection refused"),
        previous_status={"backlog": old},
    )
    result = run(body(), state)
    assert {m["kind"] for m in result.apply} == {
        "Deployment",
        "ScaledObject",
        "PodDisruptionBudget",
    }
    cond = conditions(result)["TemporalReachable"]
    assert (cond["status"], cond["reason"]) == ("False", Reason.TEMPORAL_UNREACHABLE)
    assert "connection refused" in cond["message"]
    assert result.status["backlog"] == old  # the last good reading stays


def test_paused_changes_nothing() -> None:
    state = converged(body())
    children = dict(state.children)
    children.pop("Deployment")
    result = run(body(paused=True), replace(state, children=children))
    assert (result.apply, result.delete) == ((), ())
    assert conditions(result)["Ready"]["reason"] == Reason.PAUSED


@pytest.mark.parametrize(
    ("spec", "config", "fragment"),
    [
        ({"scaling": {"minReplicas": 5, "maxReplicas": 2}}, CONFIG, "spec.scaling.minReplicas"),
        ({"worker": {"buildId": "v1"}}, CONFIG, "spec.worker.deploymentName"),
        ({"scaling": {"queueTypes": ["bogus"]}}, CONFIG, "spec.scaling.queueTypes"),
        ({"scaling": {"maxReplicas": "ten"}}, CONFIG, "spec.scaling.maxReplicas"),
        ({}, OperatorConfig(worker_image="w:1"), "spec.temporal.address"),
        ({}, OperatorConfig(temporal_address="t:7233"), "spec.worker.image"),
        ({"temporal": {"tls": {}}}, CONFIG, "spec.temporal.tls"),
        (
            {"temporal": {"apiKeySecret": {"name": "k"}, "tls": {"enabled": False}}},
            CONFIG,
            "spec.temporal.apiKeySecret needs TLS",
        ),
    ],
)
def test_invalid_spec_names_the_field_and_touches_nothing(
    spec: dict[str, Any], config: OperatorConfig, fragment: str
) -> None:
    result = run(body(**spec), observed(), config)
    assert (result.apply, result.delete) == ((), ())
    ready = conditions(result)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", Reason.INVALID_SPEC)
    assert fragment in ready["message"]


def test_events_on_ready_transitions_only() -> None:
    state = converged(body())
    first = run(body(), state)
    # One event for the news "Ready", not a second one for KEDA's part of it.
    assert [(e.type, e.reason) for e in first.events] == [("Normal", Reason.RECONCILED)]
    again = run(body(), replace(state, previous_status=first.status))
    assert again.events == ()
    broken = run(body(), replace(state, previous_status=first.status, keda_installed=False))
    assert ("Warning", Reason.KEDA_NOT_INSTALLED) in {(e.type, e.reason) for e in broken.events}


def test_apply_failure_turns_ready_false() -> None:
    planned = run(body(), converged(body())).status
    status = with_apply_failure(planned, "admission webhook said no", generation=3, now=NOW)
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", Reason.APPLY_FAILED)
    assert len(status["conditions"]) == 4


def test_unready_workers_can_always_be_evicted() -> None:
    # Readiness follows Temporal's health: with Temporal down every worker is unready, and
    # the default eviction policy would block node drains until it came back.
    pdb = run(body(), observed()).desired["PodDisruptionBudget"]
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["spec"]["maxUnavailable"] == 1
