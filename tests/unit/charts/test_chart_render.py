"""The queuefleet chart renders, lints and rejects bad values with Helm 3 and Helm 4.

No cluster: `helm lint` and `helm template` only. What the API server thinks of the output
is tests/cluster/charts' job.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.charts.helmchart import (
    CHART,
    CI_VALUES,
    EXAMPLE_VALUES,
    HELM_BINARIES,
    HelmError,
    Manifest,
    Rendered,
    pod_specs,
    render,
    run_helm,
    template_text,
)

BAD_VALUES = sorted((Path(__file__).parent / "bad-values").glob("*.yaml"))
SCENARIOS = [*CI_VALUES, *EXAMPLE_VALUES]
STANDARD_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/component",
)
# Variable names that hold secret material (a *_PATH names a mounted file instead).
SECRET_LIKE = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL)(?!.*_PATH$)", re.IGNORECASE)


def _ids(paths: list[Path]) -> list[str]:
    return [path.stem for path in paths]


def test_there_are_scenarios_and_a_bad_values_corpus() -> None:
    assert {"dev", "external-tls", "monitoring", "many-queues"} <= {
        path.stem.removesuffix("-values") for path in CI_VALUES
    }
    assert len(BAD_VALUES) >= 10


@pytest.mark.parametrize("helm", HELM_BINARIES)
@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=["defaults", *_ids(CI_VALUES)])
def test_lint_strict_passes(helm: str, values: Path | None, tmp_path: Path) -> None:
    args = ["lint", "--strict", str(CHART)] + (["--values", str(values)] if values else [])
    result = run_helm(helm, *args, home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout, result.stdout
    assert "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("values", SCENARIOS, ids=_ids(SCENARIOS))
def test_helm3_and_helm4_render_the_same(values: Path, tmp_path: Path) -> None:
    helm3 = render(home=tmp_path, binary="helm", values_files=[values])
    helm4 = render(home=tmp_path, binary="helm4", values_files=[values])
    assert helm3 == helm4  # the same objects; the two differ only in blank lines


@pytest.mark.parametrize("values", [None, *SCENARIOS], ids=["defaults", *_ids(SCENARIOS)])
def test_every_object_carries_the_standard_labels(values: Path | None, tmp_path: Path) -> None:
    objects = render(home=tmp_path, values_files=[values] if values else [])
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        missing = [label for label in STANDARD_LABELS if label not in labels]
        assert not missing, f"{where} lacks {missing}"
        assert labels["app.kubernetes.io/instance"] == "qf"
        assert len(obj["metadata"]["name"]) <= 63, where


@pytest.mark.parametrize("values", [None, *SCENARIOS], ids=["defaults", *_ids(SCENARIOS)])
def test_every_pod_meets_the_restricted_pod_security_standard(
    values: Path | None, tmp_path: Path
) -> None:
    """The fields "restricted" checks; the API server's admission is the cluster test."""
    objects = render(home=tmp_path, values_files=[values] if values else [])
    specs = list(pod_specs(objects))
    assert specs
    for where, spec in specs:
        pod_context = spec.get("securityContext", {})
        assert pod_context.get("runAsNonRoot") is True, where
        assert pod_context.get("runAsUser", 0) > 0, where
        assert pod_context.get("seccompProfile") == {"type": "RuntimeDefault"}, where
        assert not spec.get("hostNetwork"), where
        assert not spec.get("hostPID"), where
        assert all("hostPath" not in volume for volume in spec.get("volumes", [])), where
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert container["resources"]["limits"], where


@pytest.mark.parametrize("values", SCENARIOS, ids=_ids(SCENARIOS))
def test_secrets_are_referenced_never_inlined(values: Path, tmp_path: Path) -> None:
    objects = render(home=tmp_path, values_files=[values])
    assert not [obj for obj in objects if obj["kind"] == "Secret"]
    for where, spec in pod_specs(objects):
        for container in spec["containers"]:
            for env in container.get("env", []):
                if SECRET_LIKE.search(env["name"]):
                    assert "value" not in env, f"{where}: {env['name']} is inlined"


@pytest.mark.parametrize("values", SCENARIOS, ids=_ids(SCENARIOS))
def test_workload_selectors_match_their_pods(values: Path, tmp_path: Path) -> None:
    rendered = Rendered(render(home=tmp_path, values_files=[values]))
    for obj in rendered.of_kind("Deployment"):
        selector = obj["spec"]["selector"]["matchLabels"]
        assert set(selector) == {
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/component",
        }
        assert selector.items() <= obj["spec"]["template"]["metadata"]["labels"].items()
    for service in rendered.of_kind("Service"):
        pods = [d["spec"]["template"]["metadata"]["labels"] for d in rendered.of_kind("Deployment")]
        selector = service["spec"]["selector"].items()
        assert any(selector <= labels.items() for labels in pods), service["metadata"]["name"]


@pytest.mark.parametrize("helm", HELM_BINARIES)
@pytest.mark.parametrize("values", BAD_VALUES, ids=_ids(BAD_VALUES))
def test_bad_values_are_rejected_with_a_clear_message(
    helm: str, values: Path, tmp_path: Path
) -> None:
    expected = next(
        line.removeprefix("# expect:").strip()
        for line in values.read_text().splitlines()
        if line.startswith("# expect:")
    )
    with pytest.raises(HelmError) as failure:
        template_text(home=tmp_path, binary=helm, values_files=[values])
    assert expected in str(failure.value)


def test_names_stay_within_63_characters_and_distinct(tmp_path: Path) -> None:
    release = "r" * 53  # Helm's longest release name
    objects = render(
        home=tmp_path,
        release=release,
        values_files=[CHART / "ci" / "monitoring-values.yaml"],
        set_values={"operator.watchScope": "namespaces"},
    )
    names: dict[tuple[str, str], int] = {}
    for obj in objects:
        name = obj["metadata"]["name"]
        assert len(name) <= 63, name
        key = (obj["kind"], obj["metadata"].get("namespace", ""))
        names[(*key, name)] = names.get((*key, name), 0) + 1  # type: ignore[index]
    assert all(count == 1 for count in names.values()), names
    components = {
        n for (_, _, n) in names if n.endswith(("-operator", "-temporal", "-temporal-ui"))
    }
    assert len(components) >= 3


def test_fullname_override_is_truncated_with_the_component_kept(tmp_path: Path) -> None:
    objects = render(home=tmp_path, set_values={"fullnameOverride": "x" * 63})
    names = {obj["metadata"]["name"] for obj in objects if obj["kind"] == "Deployment"}
    assert {name.rsplit("x-", 1)[1] for name in names} == {"operator", "temporal", "temporal-ui"}
    assert all(len(name) <= 63 for name in names)


def test_dev_mode_runs_the_server_ui_and_creates_namespaces(tmp_path: Path) -> None:
    rendered = Rendered(render(home=tmp_path, values_files=[CHART / "ci" / "dev-values.yaml"]))
    server = rendered.one("Deployment", "qf-queuefleet-temporal")
    container = server["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "temporalio/temporal:1.9.1"
    args = container["args"]
    assert args[:2] == ["server", "start-dev"]
    assert {"--namespace=orders", "--namespace=billing"} <= set(args)
    assert "--search-attribute=CustomerId=Keyword" in args
    assert "--dynamic-config-value=frontend.enableUpdateWorkflowExecution=true" in args
    assert "--db-filename=/var/lib/temporal/temporal.db" in args
    assert server["spec"]["strategy"]["type"] == "Recreate"
    volumes = {v["name"]: v for v in server["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "qf-queuefleet-temporal"
    assert rendered.one("PersistentVolumeClaim", "qf-queuefleet-temporal")
    frontend = rendered.one("Service", "qf-queuefleet-temporal-frontend")
    assert {p["name"]: p["port"] for p in frontend["spec"]["ports"]} == {"grpc": 7233, "http": 7243}
    metrics = rendered.one("Service", "qf-queuefleet-temporal-metrics")
    assert [p["port"] for p in metrics["spec"]["ports"]] == [9090]
    ui = rendered.one("Deployment", "qf-queuefleet-temporal-ui")
    ui_env = {e["name"]: e["value"] for e in ui["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (
        ui_env["TEMPORAL_ADDRESS"]
        == "qf-queuefleet-temporal-frontend.queuefleet.svc.cluster.local:7233"
    )
    assert rendered.one("Service", "qf-queuefleet-temporal-ui")


def test_persistence_off_uses_an_emptydir(tmp_path: Path) -> None:
    rendered = Rendered(
        render(home=tmp_path, set_values={"temporal.server.persistence.enabled": "false"})
    )
    assert not rendered.of_kind("PersistentVolumeClaim")
    server = rendered.one("Deployment", "qf-queuefleet-temporal")
    volumes = {v["name"]: v for v in server["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes["data"]


def test_external_mode_runs_no_server_and_passes_secret_references(tmp_path: Path) -> None:
    rendered = Rendered(
        render(home=tmp_path, values_files=[CHART / "ci" / "external-tls-values.yaml"])
    )
    components = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]
        for d in rendered.of_kind("Deployment")
    }
    assert components == {"operator"}
    assert not rendered.of_kind("PersistentVolumeClaim")
    config = rendered.one("ConfigMap", "qf-queuefleet-operator")["data"]
    assert config["QUEUEFLEET_OPERATOR_TEMPORAL_ADDRESS"] == (
        "temporal-frontend.temporal.svc.cluster.local:7233"
    )
    assert config["QUEUEFLEET_OPERATOR_TEMPORAL_NAMESPACE"] == "payments"
    tls = {
        "enabled": True,
        "secretName": "temporal-client-mtls",
        "caKey": "ca.crt",
        "serverName": "temporal-frontend.temporal",
    }
    (connection,) = rendered.of_kind("TemporalConnection")
    assert connection["metadata"]["name"] == "qf-queuefleet-temporal"
    assert connection["spec"] == {
        "address": "temporal-frontend.temporal.svc.cluster.local:7233",
        "namespace": "payments",
        "tls": tls,
    }
    # The queues name the connection, never a Secret.
    ref = {"name": "qf-queuefleet-temporal"}
    queues = {q["metadata"]["name"]: q["spec"] for q in rendered.of_kind("WorkflowQueue")}
    assert queues["payments"]["temporal"] == {"connectionRef": ref}
    assert queues["refunds"]["temporal"] == {"connectionRef": ref, "namespace": "refunds"}


def test_test_hook_mounts_tls_and_reads_the_api_key_from_its_secret(tmp_path: Path) -> None:
    mtls = Rendered(render(home=tmp_path, values_files=[CHART / "ci" / "external-tls-values.yaml"]))
    pod = mtls.one("Pod", "qf-queuefleet-test-roundtrip")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["TEMPORAL_ADDRESS"] == "temporal-frontend.temporal.svc.cluster.local:7233"
    assert env["TEMPORAL_TLS"] == "true"
    assert env["TEMPORAL_TLS_CLIENT_CERT_PATH"] == "/etc/queuefleet/temporal-tls/tls.crt"
    assert env["TEMPORAL_TLS_SERVER_CA_CERT_PATH"] == "/etc/queuefleet/temporal-tls/ca.crt"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["temporal-tls"]["secret"]["secretName"] == "temporal-client-mtls"

    cloud = Rendered(
        render(home=tmp_path, values_files=[CHART / "ci" / "external-apikey-values.yaml"])
    )
    container = cloud.one("Pod", "qf-queuefleet-test-roundtrip")["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "temporal-cloud-api-key",
        "key": "api-key",
    }
    script = cloud.one("ConfigMap", "qf-queuefleet-test-roundtrip")["data"]["roundtrip.py"]
    assert script == (CHART / "files" / "tests" / "roundtrip.py").read_text()
    assert container["command"] == ["python", "/etc/queuefleet-test/roundtrip.py"]


def test_queues_get_defaults_merged_under_their_own_fields(tmp_path: Path) -> None:
    rendered = Rendered(
        render(home=tmp_path, values_files=[CHART / "ci" / "many-queues-values.yaml"])
    )
    queues = {q["metadata"]["name"]: q for q in rendered.of_kind("WorkflowQueue")}
    assert len(queues) == 25
    plain = queues["fleet-07"]["spec"]
    assert plain["taskQueue"] == "fleet.07"
    assert plain["scaling"] == {"minReplicas": 0, "maxReplicas": 8, "targetBacklogPerReplica": 10}
    assert plain["worker"]["gracefulShutdownSeconds"] == 60
    priority = queues["fleet-priority"]
    assert priority["spec"]["taskQueue"] == "fleet-priority"
    assert priority["spec"]["scaling"]["maxReplicas"] == 30
    assert priority["spec"]["scaling"]["targetBacklogPerReplica"] == 10
    assert priority["spec"]["worker"]["concurrency"] == {"maxConcurrentActivities": 50}
    assert priority["spec"]["worker"]["resources"]["limits"] == {"memory": "256Mi"}
    assert priority["metadata"]["labels"]["tier"] == "gold"
    assert "temporal" not in plain  # dev mode: the operator's defaults apply


def test_a_queue_on_another_server_gets_no_credentials(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "temporal": {
                    "mode": "external",
                    "external": {"address": "a.example:7233", "apiKeySecret": {"name": "k"}},
                },
                "queues": [
                    {"name": "same", "temporal": {"address": "a.example:7233"}},
                    {"name": "other", "temporal": {"address": "b.example:7233"}},
                ],
            }
        )
    )
    queues = {
        q["metadata"]["name"]: q["spec"]["temporal"]
        for q in Rendered(render(home=tmp_path, values_files=[values])).of_kind("WorkflowQueue")
    }
    assert queues["same"] == {"connectionRef": {"name": "qf-queuefleet-temporal"}}
    assert queues["other"] == {"address": "b.example:7233"}


def test_credentials_in_a_queue_are_refused_naming_the_queue(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump({"queues": [{"name": "q", "temporal": {"apiKeySecret": {"name": "k"}}}]})
    )
    with pytest.raises(HelmError, match=r"queues\[0\] \(q\): temporal\.apiKeySecret names"):
        render(home=tmp_path, values_files=[values])


def test_dev_mode_renders_no_connection(tmp_path: Path) -> None:
    assert not Rendered(render(home=tmp_path)).of_kind("TemporalConnection")


def _rule_set(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _reference_rules(kind: str = "ClusterRole") -> set[tuple[str, str, str]]:
    docs = yaml.safe_load_all((CHART.parents[1] / "k8s" / "rbac" / "operator.yaml").read_text())
    (role,) = [doc for doc in docs if doc and doc["kind"] == kind]
    return _rule_set(role["rules"])


SECRETS = {("", "secrets", "get")}


def _secret_roles(rendered: Rendered) -> dict[str, set[tuple[str, str, str]]]:
    return {
        role["metadata"]["namespace"]: _rule_set(role["rules"])
        for role in rendered.of_kind("Role")
        if role["metadata"]["name"].endswith("-operator-secrets")
    }


@pytest.mark.parametrize(
    ("values", "namespaces"),
    [
        ({}, {"queuefleet"}),
        ({"operator.secretNamespaces": "{team-a,team-b}"}, {"team-a", "team-b"}),
        ({"operator.watchScope": "namespaces", "operator.watchNamespaces": "{a,b}"}, {"a", "b"}),
    ],
)
def test_secrets_are_readable_only_through_roles_in_named_namespaces(
    values: dict[str, str], namespaces: set[str], tmp_path: Path
) -> None:
    rendered = Rendered(render(home=tmp_path, set_values=values))
    for role in rendered.of_kind("ClusterRole"):
        assert not {r for r in _rule_set(role["rules"]) if r[1] == "secrets"}
    assert _reference_rules("Role") == SECRETS
    assert _secret_roles(rendered) == dict.fromkeys(namespaces, SECRETS)
    bindings = [
        b for b in rendered.of_kind("RoleBinding") if b["roleRef"]["name"].endswith("-secrets")
    ]
    assert {b["metadata"]["namespace"] for b in bindings} == namespaces


def test_cluster_scope_rbac_equals_the_reference_rbac(tmp_path: Path) -> None:
    rendered = Rendered(render(home=tmp_path))
    (role,) = rendered.of_kind("ClusterRole")
    # k8s/rbac/operator.yaml is rendered from this scope (hack/chart-sync.py).
    assert _rule_set(role["rules"]) == _reference_rules()
    assert _secret_roles(rendered) == {"queuefleet": SECRETS}
    (binding,) = rendered.of_kind("ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "qf-queuefleet-operator", "namespace": "queuefleet"}
    ]
    assert rendered.of_kind("ClusterKopfPeering")


def test_namespace_scope_rbac_grants_only_reads_at_cluster_scope(tmp_path: Path) -> None:
    rendered = Rendered(
        render(
            home=tmp_path,
            set_values={"operator.watchScope": "namespaces", "operator.watchNamespaces": "{a,b}"},
        )
    )
    (cluster_role,) = rendered.of_kind("ClusterRole")
    assert {verb for (_, _, verb) in _rule_set(cluster_role["rules"])} <= {"get", "list", "watch"}
    assert {resource for (_, resource, _) in _rule_set(cluster_role["rules"])} == {
        "customresourcedefinitions",
        "namespaces",
    }
    roles = [r for r in rendered.of_kind("Role") if r["metadata"]["name"].endswith("-operator")]
    assert {role["metadata"]["namespace"] for role in roles} == {"a", "b"}
    bindings = {b["metadata"]["namespace"] for b in rendered.of_kind("RoleBinding")}
    assert bindings == {"a", "b"}
    granted = _rule_set(cluster_role["rules"]) | _rule_set(roles[0]["rules"])
    peering = ("get", "list", "watch", "patch")
    assert granted == (
        _reference_rules() - {("kopf.dev", "clusterkopfpeerings", v) for v in peering}
    ) | {("kopf.dev", "kopfpeerings", v) for v in peering}
    peerings = rendered.of_kind("KopfPeering")
    assert {p["metadata"]["namespace"] for p in peerings} == {"a", "b"}
    args = rendered.one("Deployment", "qf-queuefleet-operator")["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert {"--namespace=a", "--namespace=b", "--peering=qf-queuefleet-operator"} <= set(args)


def test_operator_deployment_shape(tmp_path: Path) -> None:
    rendered = Rendered(render(home=tmp_path))
    operator = rendered.one("Deployment", "qf-queuefleet-operator")
    assert operator["spec"]["replicas"] == 2
    spec = operator["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "qf-queuefleet-operator"
    container = spec["containers"][0]
    assert container["args"][0] == "operator"
    assert "--peering=queuefleet-qf-queuefleet-operator" in container["args"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]
    assert container["envFrom"] == [{"configMapRef": {"name": "qf-queuefleet-operator"}}]
    pdb = rendered.one("PodDisruptionBudget", "qf-queuefleet-operator")
    assert pdb["spec"]["minAvailable"] == 1
    peering = rendered.one("ClusterKopfPeering", "queuefleet-qf-queuefleet-operator")
    assert peering["apiVersion"] == "kopf.dev/v1"


def test_operator_config_change_rolls_the_operator(tmp_path: Path) -> None:
    def checksum(namespace: str) -> str:
        rendered = Rendered(render(home=tmp_path, set_values={"temporal.namespace": namespace}))
        operator = rendered.one("Deployment", "qf-queuefleet-operator")
        return str(operator["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum("a") != checksum("b")


def test_monitoring_objects_appear_only_when_switched_on(tmp_path: Path) -> None:
    plain = Rendered(render(home=tmp_path))
    monitoring_kinds = {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"}
    assert not [o for o in plain.objects if o["kind"] in monitoring_kinds]
    assert not [
        o for o in plain.of_kind("ConfigMap") if "grafana_dashboard" in o["metadata"]["labels"]
    ]

    rendered = Rendered(
        render(home=tmp_path, values_files=[CHART / "ci" / "monitoring-values.yaml"])
    )
    monitors = {m["metadata"]["name"]: m for m in rendered.of_kind("ServiceMonitor")}
    assert set(monitors) == {"qf-queuefleet-operator", "qf-queuefleet-temporal"}
    assert all(m["metadata"]["labels"]["release"] == "prometheus" for m in monitors.values())
    dashboards = [
        c for c in rendered.of_kind("ConfigMap") if "grafana_dashboard" in c["metadata"]["labels"]
    ]
    assert dashboards
    for dashboard in dashboards:
        assert dashboard["metadata"]["annotations"] == {"grafana_folder": "queuefleet"}
        for text in dashboard["data"].values():
            assert yaml.safe_load(text)["uid"]  # valid JSON (YAML is a superset)
    for policy in rendered.of_kind("NetworkPolicy"):
        metrics = [r for r in policy["spec"]["ingress"] if r["ports"] == [{"port": "metrics"}]]
        for rule in metrics:
            assert rule["from"] == [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                    }
                }
            ]
    policies = {p["metadata"]["name"] for p in rendered.of_kind("NetworkPolicy")}
    assert policies == {
        "qf-queuefleet-temporal",
        "qf-queuefleet-temporal-ui",
        "qf-queuefleet-operator",
        "qf-queuefleet-workers",
    }


def test_uninstall_runs_no_hook(tmp_path: Path) -> None:
    # The operator holds no finalizer on queues, so Helm deletes them like any object.
    rendered = Rendered(render(home=tmp_path, values_files=[CHART / "ci" / "dev-values.yaml"]))
    assert not [
        obj
        for obj in rendered.objects
        if obj["metadata"].get("annotations", {}).get("helm.sh/hook") == "pre-delete"
    ]


def _pack_queues() -> list[Manifest]:
    values = yaml.safe_load((CHART / "examples" / "workflow-packs-values.yaml").read_text())
    return list(values["queues"])


@pytest.mark.parametrize("queue", _pack_queues(), ids=lambda q: q["name"])
def test_pack_example_queues_poll_their_registrars_task_queue(queue: Manifest) -> None:
    from queuefleet_worker.registry import discover

    (registrar,) = discover(queue["worker"]["registrars"])
    assert queue["taskQueue"] == registrar.task_queue


def test_policy_values_reach_the_operator_settings_the_operator_parses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse

    from queuefleet_operator.command import add_arguments, config_from_args

    rendered = Rendered(
        render(
            home=tmp_path,
            set_values={
                "operator.policy.allowedTemporalAddresses": "{temporal.example:7233,b.example:443}",
                "operator.policy.allowedImagePrefixes": "{registry.example/team-a/}",
            },
        )
    )
    config = rendered.one("ConfigMap", "qf-queuefleet-operator")["data"]
    assert config["QUEUEFLEET_OPERATOR_ALLOWED_TEMPORAL_ADDRESSES"] == (
        "temporal.example:7233,b.example:443"
    )
    # The ConfigMap is the operator's environment (envFrom); its flags default from it.
    for name, value in config.items():
        monkeypatch.setenv(name, value)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    operator = config_from_args(parser.parse_args([]))
    assert operator.allowed_temporal_addresses == ("temporal.example:7233", "b.example:443")
    assert operator.allowed_image_prefixes == ("registry.example/team-a/",)
