"""Proves the Helm tools: Helm 3 and Helm 4 each install a chart into the real API server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from testbed.cluster import Cluster
from tests.conftest import component_missing


def _helm(binary: str, home: Path, *args: str, kube: Cluster) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(kube.kubeconfig),
    }
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, env=env, timeout=180, check=False
    )


@pytest.mark.parametrize("helm", ["helm", "helm4"])
def test_helm_installs_and_uninstalls_a_chart(
    helm: str, kube: Cluster, namespace: str, tmp_path: Path
) -> None:
    version = _helm(helm, tmp_path, "version", "--short", kube=kube)
    if version.returncode != 0:
        component_missing(f"{helm} not runnable: {version.stderr.strip()}")
    created = _helm(helm, tmp_path, "create", str(tmp_path / "demo"), kube=kube)
    assert created.returncode == 0, created.stderr

    installed = _helm(
        helm, tmp_path, "install", "demo", str(tmp_path / "demo"),
        "--namespace", namespace, "--wait", "--timeout", "90s",
        kube=kube,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    deployment = json.loads(
        kube.kubectl("-n", namespace, "get", "deployment", "demo", "-o", "json").stdout
    )
    assert deployment["status"]["readyReplicas"] == 1

    removed = _helm(
        helm, tmp_path, "uninstall", "demo", "--namespace", namespace, "--wait", kube=kube
    )
    assert removed.returncode == 0, removed.stderr
    assert kube.kubectl("-n", namespace, "get", "deployment", "demo", check=False).returncode != 0
