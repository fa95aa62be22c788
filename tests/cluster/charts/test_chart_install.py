"""The queuefleet chart against a real control plane (kwok: pods are scheduled, not run).

Every scenario is validated by the API server (server-side dry-run: schemas of Kubernetes,
KEDA, the Prometheus Operator and our CRDs, plus Pod Security admission), then installed,
upgraded and uninstalled with Helm in a namespace that enforces the "restricted" Pod
Security Standard. The operator itself runs on this machine with the chart's
ServiceAccount token, to show the chart's RBAC is enough and queues become fleets.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from testbed.cluster import Cluster, install_crds, uninstall_crds
from testbed.process import Process, free_port, http_ok
from tests.conftest import component_missing
from tests.unit.charts.helmchart import (
    CHART,
    CI_VALUES,
    EXAMPLE_VALUES,
    Rendered,
    render,
    run_helm,
    template_text,
)

T = TypeVar("T")
RELEASE = "qf"
TIMEOUT = 90.0
MONITORING = CHART / "ci" / "monitoring-values.yaml"
DEV = CHART / "ci" / "dev-values.yaml"
SCENARIOS = [*CI_VALUES, *EXAMPLE_VALUES]
# What a release may leave behind in its namespace, by kind (`kubectl get` names).
NAMESPACED_KINDS = (
    "deployments,replicasets,pods,services,configmaps,serviceaccounts,roles,rolebindings,"
    "persistentvolumeclaims,poddisruptionbudgets,networkpolicies,workflowqueues,kopfpeerings"
)
CLUSTER_KINDS = "clusterroles,clusterrolebindings,clusterkopfpeerings"


def eventually(probe: Callable[[], T | None], *, what: str, timeout: float = TIMEOUT) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"no {what} after {timeout:.0f}s")


@pytest.fixture(scope="module")
def chart_crds(kube: Cluster) -> Cluster:
    """The chart's CRDs, as `helm install` would create them; they stay (the CRD policy)."""
    install_crds(kube, CHART / "crds")
    return kube


@pytest.fixture(scope="module")
def monitoring_crds(chart_crds: Cluster) -> Iterator[Cluster]:
    """The Prometheus Operator's CRDs, removed again so other tests see a cluster without them."""
    directory = os.environ.get("QUEUEFLEET_PROMETHEUS_OPERATOR_CRDS")
    if not directory or not Path(directory).is_dir():
        component_missing("QUEUEFLEET_PROMETHEUS_OPERATOR_CRDS is not set; run through make")
    install_crds(chart_crds, Path(str(directory)))
    yield chart_crds
    uninstall_crds(chart_crds, Path(str(directory)))


@pytest.fixture
def restricted(kube: Cluster, namespace: str) -> str:
    """The test's namespace, enforcing the "restricted" Pod Security Standard."""
    for mode in ("enforce", "warn", "audit"):
        kube.kubectl(
            "label", "namespace", namespace, f"pod-security.kubernetes.io/{mode}=restricted"
        )
    return namespace


def _needs_monitoring(values: Path) -> bool:
    return values == MONITORING


def _crds_for(values: Path, request: pytest.FixtureRequest) -> Cluster:
    name = "monitoring_crds" if _needs_monitoring(values) else "chart_crds"
    cluster: Cluster = request.getfixturevalue(name)
    return cluster


def _ids(paths: list[Path]) -> list[str]:
    return [path.stem for path in paths]


def _json(kube: Cluster, *args: str) -> Any:
    return json.loads(kube.kubectl(*args, "-o", "json").stdout)


@pytest.mark.parametrize("values", SCENARIOS, ids=_ids(SCENARIOS))
def test_api_server_accepts_every_rendered_object(
    values: Path, restricted: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Server-side dry-run: schemas, CEL rules and Pod Security admission, nothing stored."""
    kube = _crds_for(values, request)
    manifest = template_text(home=tmp_path, values_files=[values], namespace=restricted)
    result = kube.kubectl(
        "apply",
        "--dry-run=server",
        "--namespace",
        restricted,
        "-f",
        "-",
        stdin=manifest,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # Pod Security admission warns about workloads whose pods it would reject.
    assert "PodSecurity" not in result.stderr, result.stderr
    assert "would violate" not in result.stderr, result.stderr


def test_api_server_rejects_what_only_the_crd_can_check(
    chart_crds: Cluster, namespace: str, tmp_path: Path
) -> None:
    """CEL rules live in the CRD: the install fails with the CRD's message for the field."""
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump({"queues": [{"name": "q", "scaling": {"minReplicas": 5, "maxReplicas": 2}}]})
    )
    manifest = template_text(home=tmp_path, values_files=[values], namespace=namespace)
    result = chart_crds.kubectl(
        "apply",
        "--dry-run=server",
        "--namespace",
        namespace,
        "-f",
        "-",
        stdin=manifest,
        check=False,
        timeout=120,
    )
    assert result.returncode != 0
    assert "spec.scaling.minReplicas must be less than or equal to spec.scaling.maxReplicas" in (
        result.stderr
    )


def _persistent_volume_for(kube: Cluster, namespace: str) -> str:
    """A PV bound in advance to the dev server's claim (the test bed has no provisioner)."""
    name = f"{namespace}-temporal"
    kube.kubectl(
        "apply",
        "-f",
        "-",
        stdin=yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Delete",
                    "storageClassName": "",
                    "hostPath": {"path": f"/tmp/{name}"},
                    "claimRef": {"namespace": namespace, "name": f"{RELEASE}-queuefleet-temporal"},
                },
            }
        ),
    )
    return name


def _release_objects(kube: Cluster, namespace: str) -> list[str]:
    selector = f"app.kubernetes.io/instance={RELEASE}"
    names = kube.kubectl(
        "-n", namespace, "get", NAMESPACED_KINDS, "-l", selector, "-o", "name", timeout=60
    ).stdout.split()
    cluster = kube.kubectl("get", CLUSTER_KINDS, "-l", selector, "-o", "name").stdout.split()
    owned = [n for n in cluster if namespace in n]  # other tests' releases are not ours
    return names + owned


def _assert_release_gone(kube: Cluster, namespace: str) -> None:
    """After `helm uninstall`: the queues, their children and every release object go."""
    eventually(
        lambda: (
            not kube.kubectl(
                "-n",
                namespace,
                "get",
                "workflowqueues,deployments,scaledobjects",
                "-l",
                "app.kubernetes.io/name=queuefleet-worker",
                "-o",
                "name",
            ).stdout.strip()
        ),
        what="the queues and their children collected",
    )
    assert not kube.kubectl("-n", namespace, "get", "workflowqueues", "-o", "name").stdout.strip()
    eventually(lambda: _release_objects(kube, namespace) == [] or None, what="an empty namespace")


def _queue_names(values: dict[str, Any]) -> set[str]:
    return {queue["name"] for queue in values.get("queues", [])}


def _deployments_ready(kube: Cluster, namespace: str) -> dict[str, int] | None:
    deployments = _json(
        kube, "-n", namespace, "get", "deployments", "-l", f"app.kubernetes.io/instance={RELEASE}"
    )["items"]
    ready = {d["metadata"]["name"]: d["status"].get("readyReplicas", 0) for d in deployments}
    wanted = {d["metadata"]["name"]: d["spec"]["replicas"] for d in deployments}
    return ready if deployments and ready == wanted else None


@pytest.mark.parametrize("values", SCENARIOS, ids=_ids(SCENARIOS))
def test_install_upgrade_uninstall(
    values: Path, restricted: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    kube = _crds_for(values, request)
    namespace = restricted
    scenario = yaml.safe_load(values.read_text())
    dev = scenario.get("temporal", {}).get("mode", "dev") == "dev"
    volume = _persistent_volume_for(kube, namespace) if dev else None
    try:
        installed = run_helm(
            "helm",
            "install",
            RELEASE,
            str(CHART),
            "--namespace",
            namespace,
            "--values",
            str(values),
            "--wait",
            "--timeout",
            "120s",
            home=tmp_path,
            kubeconfig=kube.kubeconfig,
        )
        assert installed.returncode == 0, installed.stderr
        notes = installed.stdout.rstrip().splitlines()
        assert notes[-1].strip() == f"helm test {RELEASE} -n {namespace}"

        crd = _json(kube, "get", "crd", "workflowqueues.queuefleet.dev")
        established = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert established["Established"] == "True"
        queues = _json(kube, "-n", namespace, "get", "workflowqueues")["items"]
        assert {q["metadata"]["name"] for q in queues} == _queue_names(scenario)

        # Every pod of the release was admitted under "restricted" and is running.
        ready = eventually(lambda: _deployments_ready(kube, namespace), what="ready deployments")
        assert ready[f"{RELEASE}-queuefleet-operator"] == 2
        if dev:
            assert ready[f"{RELEASE}-queuefleet-temporal"] == 1
            assert ready[f"{RELEASE}-queuefleet-temporal-ui"] == 1
        pods = _json(
            kube, "-n", namespace, "get", "pods", "-l", f"app.kubernetes.io/instance={RELEASE}"
        )["items"]
        assert pods
        assert all(p["status"]["phase"] == "Running" for p in pods)

        # Upgrade: one queue replaced by another, the operator's settings changed.
        kept = scenario.get("queues", [])[1:]
        upgrade_values = tmp_path / "upgrade.yaml"
        upgrade_values.write_text(yaml.safe_dump({"queues": [*kept, {"name": "added-on-upgrade"}]}))
        before = _json(kube, "-n", namespace, "get", "deployment", f"{RELEASE}-queuefleet-operator")
        upgraded = run_helm(
            "helm",
            "upgrade",
            RELEASE,
            str(CHART),
            "--namespace",
            namespace,
            "--values",
            str(values),
            "--values",
            str(upgrade_values),
            "--set",
            "operator.syncIntervalSeconds=20",
            "--wait",
            "--timeout",
            "120s",
            home=tmp_path,
            kubeconfig=kube.kubeconfig,
        )
        assert upgraded.returncode == 0, upgraded.stderr
        queues = _json(kube, "-n", namespace, "get", "workflowqueues")["items"]
        assert {q["metadata"]["name"] for q in queues} == {q["name"] for q in kept} | {
            "added-on-upgrade"
        }
        after = _json(kube, "-n", namespace, "get", "deployment", f"{RELEASE}-queuefleet-operator")
        assert after["metadata"]["generation"] > before["metadata"]["generation"]
        assert "--sync-interval=20" in after["spec"]["template"]["spec"]["containers"][0]["args"]
        eventually(
            lambda: _deployments_ready(kube, namespace), what="ready deployments after upgrade"
        )

        removed = run_helm(
            "helm",
            "uninstall",
            RELEASE,
            "--namespace",
            namespace,
            "--wait",
            "--timeout",
            "120s",
            home=tmp_path,
            kubeconfig=kube.kubeconfig,
        )
        assert removed.returncode == 0, removed.stderr
        left = eventually(
            lambda: _release_objects(kube, namespace) == [] or None, what="an empty namespace"
        )
        assert left
        # The CRD policy: Helm never deletes the CRDs of crds/.
        assert (
            kube.kubectl("get", "crd", "workflowqueues.queuefleet.dev", check=False).returncode == 0
        )
    finally:
        run_helm(
            "helm",
            "uninstall",
            RELEASE,
            "--namespace",
            namespace,
            "--ignore-not-found",
            home=tmp_path,
            kubeconfig=kube.kubeconfig,
        )
        if volume:
            kube.kubectl("delete", "pv", volume, "--ignore-not-found", "--wait=false")


def test_helm4_installs_and_uninstalls_the_dev_scenario(
    chart_crds: Cluster, restricted: str, tmp_path: Path
) -> None:
    kube, namespace = chart_crds, restricted
    volume = _persistent_volume_for(kube, namespace)
    try:
        installed = run_helm(
            "helm4",
            "install",
            RELEASE,
            str(CHART),
            "--namespace",
            namespace,
            "--values",
            str(DEV),
            "--wait",
            "--timeout",
            "120s",
            home=tmp_path,
            kubeconfig=kube.kubeconfig,
        )
        assert installed.returncode == 0, installed.stderr
        eventually(lambda: _deployments_ready(kube, namespace), what="ready deployments")
        removed = run_helm(
            "helm4",
            "uninstall",
            RELEASE,
            "--namespace",
            namespace,
            "--wait",
            home=tmp_path,
            kubeconfig=kube.kubeconfig,
        )
        assert removed.returncode == 0, removed.stderr
        _assert_release_gone(kube, namespace)
    finally:
        kube.kubectl("delete", "pv", volume, "--ignore-not-found", "--wait=false")


def _service_account_kubeconfig(kube: Cluster, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the chart's ServiceAccount (a short-lived token)."""
    token = kube.kubectl(
        "-n", namespace, "create", "token", account, "--duration=15m"
    ).stdout.strip()
    admin = yaml.safe_load(kube.kubectl("config", "view", "--raw", "--minify").stdout)
    cluster = admin["clusters"][0]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster["cluster"]}],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [
                    {
                        "name": "c",
                        "context": {"cluster": "c", "user": account, "namespace": namespace},
                    }
                ],
                "current-context": "c",
            }
        )
    )
    return path


def _operator_command(
    rendered: Rendered, *, liveness: int, metrics: int
) -> tuple[list[str], dict[str, str]]:
    """The chart's operator container as a local command: its args and its ConfigMap env."""
    deployment = rendered.one("Deployment", f"{RELEASE}-queuefleet-operator")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = [
        arg
        for arg in container["args"]
        if not arg.startswith(("--liveness=", "--metrics-address="))
    ]
    args += [
        f"--liveness=http://127.0.0.1:{liveness}/healthz",
        f"--metrics-address=127.0.0.1:{metrics}",
    ]
    args += ["--log-format=plain", "--temporal-timeout=1"]
    config = rendered.one("ConfigMap", f"{RELEASE}-queuefleet-operator")["data"]
    return [sys.executable, "-m", "queuefleet_cli", *args], dict(config)


@pytest.mark.parametrize("scope", ["cluster", "namespaces"])
def test_operator_with_the_charts_rbac_turns_queues_into_fleets(
    scope: str, chart_crds: Cluster, restricted: str, tmp_path: Path, artifacts: Path
) -> None:
    kube, namespace = chart_crds, restricted
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "temporal": {"server": {"persistence": {"enabled": False}}},
                "operator": {"watchScope": scope},
                "queues": [
                    {"name": "orders", "scaling": {"minReplicas": 1, "maxReplicas": 3}},
                    {"name": "billing", "taskQueue": "billing.v1"},
                ],
            }
        )
    )
    installed = run_helm(
        "helm",
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        namespace,
        "--values",
        str(values),
        home=tmp_path,
        kubeconfig=kube.kubeconfig,
    )
    assert installed.returncode == 0, installed.stderr
    rendered = Rendered(render(home=tmp_path, values_files=[values], namespace=namespace))
    liveness = free_port()
    argv, env = _operator_command(rendered, liveness=liveness, metrics=free_port())
    kubeconfig = _service_account_kubeconfig(
        kube, namespace, f"{RELEASE}-queuefleet-operator", tmp_path / "operator.kubeconfig"
    )
    process = Process.start(
        "operator",
        argv,
        log_path=artifacts / "chart-operator" / f"{namespace}.log",
        env={**env, "KUBECONFIG": str(kubeconfig)},
    )
    try:
        process.wait_until(
            lambda: http_ok(f"http://127.0.0.1:{liveness}/healthz"), timeout=30, what="liveness"
        )
        for queue in ("orders", "billing"):
            process.wait_until(
                lambda queue=queue: _children_exist(kube, namespace, queue),  # type: ignore[misc]
                timeout=TIMEOUT,
                what=f"children of {queue}",
            )
        deployment = _json(kube, "-n", namespace, "get", "deployment", "orders-worker")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == env["QUEUEFLEET_OPERATOR_WORKER_IMAGE"]
        worker_env = {e["name"]: e.get("value") for e in container["env"]}
        assert worker_env["TEMPORAL_ADDRESS"] == env["QUEUEFLEET_OPERATOR_TEMPORAL_ADDRESS"]
        # Worker pods come up under "restricted" too.
        eventually(
            lambda: _json(kube, "-n", namespace, "get", "deployment", "orders-worker")[
                "status"
            ].get("readyReplicas"),
            what="a ready worker pod",
        )
        log = process.log_path.read_text()
        assert "forbidden" not in log.lower(), log[-3000:]

        # The operator puts no finalizer on queues, so `helm uninstall` removes them at
        # once even with the operator stopped (namespaces case), and the garbage collector
        # takes their children.
        if scope == "namespaces":
            process.stop()
        removed = run_helm(
            "helm",
            "uninstall",
            RELEASE,
            "--namespace",
            namespace,
            "--wait",
            "--timeout",
            "60s",
            home=tmp_path,
            kubeconfig=kube.kubeconfig,
            timeout=90,
        )
        assert removed.returncode == 0, removed.stderr
        _assert_release_gone(kube, namespace)
    finally:
        process.stop()
        run_helm(
            "helm",
            "uninstall",
            RELEASE,
            "--namespace",
            namespace,
            "--ignore-not-found",
            "--no-hooks",
            home=tmp_path,
            kubeconfig=kube.kubeconfig,
            timeout=60,
        )
        # Queues from older operators may still carry a finalizer: drop it, so the
        # namespace can go even when a step above failed.
        for name in kube.kubectl(
            "-n", namespace, "get", "workflowqueues", "-o", "name", check=False
        ).stdout.split():
            kube.kubectl(
                "-n",
                namespace,
                "patch",
                name,
                "--type=merge",
                "-p",
                '{"metadata":{"finalizers":null}}',
                check=False,
            )


def _children_exist(kube: Cluster, namespace: str, queue: str) -> bool:
    deployment = kube.kubectl("-n", namespace, "get", "deployment", f"{queue}-worker", check=False)
    scaled = kube.kubectl("-n", namespace, "get", "scaledobject", f"{queue}-worker", check=False)
    return deployment.returncode == 0 and scaled.returncode == 0
