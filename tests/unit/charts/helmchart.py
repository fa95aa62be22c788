"""Running Helm against the queuefleet chart, for the chart tests of every tier."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from tests.conftest import component_missing

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "queuefleet"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
EXAMPLE_VALUES = sorted((CHART / "examples").glob("*-values.yaml"))
HELM_BINARIES = ("helm", "helm4")
# `helm template` assumes Kubernetes 1.20 unless told; render for the test bed's version.
KUBE_VERSION = "1.36.0"

Manifest = dict[str, Any]


class HelmError(RuntimeError):
    """Helm exited non-zero; the message is its stderr."""


def helm_binary(name: str = "helm") -> str:
    """Path of a Helm binary, or skip (fail under CI) when it is not on PATH."""
    path = shutil.which(name)
    if path is None:
        component_missing(f"{name} is not on PATH; run the tests through make (make tools)")
        raise AssertionError  # unreachable
    return path


def helm_env(home: Path, kubeconfig: Path | None = None) -> dict[str, str]:
    """Helm's caches and config in `home`, so tests never read or write the user's."""
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return env


def run_helm(
    binary: str, *args: str, home: Path, kubeconfig: Path | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm_binary(binary), *args],
        capture_output=True,
        text=True,
        env=helm_env(home, kubeconfig),
        timeout=timeout,
        check=False,
    )


def values_args(values_files: Iterable[Path] = (), set_values: Mapping[str, str] = {}) -> list[str]:
    args: list[str] = []
    for path in values_files:
        args += ["--values", str(path)]
    for key, value in set_values.items():
        args += ["--set", f"{key}={value}"]
    return args


def template_text(
    *,
    home: Path,
    binary: str = "helm",
    values_files: Sequence[Path] = (),
    set_values: Mapping[str, str] = {},
    release: str = "qf",
    namespace: str = "queuefleet",
    include_crds: bool = False,
    extra: Sequence[str] = (),
) -> str:
    """`helm template` of the chart; raises HelmError with Helm's message on failure."""
    args = [
        "template",
        release,
        str(CHART),
        "--namespace",
        namespace,
        "--kube-version",
        KUBE_VERSION,
        *values_args(values_files, set_values),
        *extra,
    ]
    if include_crds:
        args.append("--include-crds")
    result = run_helm(binary, *args, home=home)
    if result.returncode != 0:
        raise HelmError(result.stderr.strip())
    return result.stdout


def render(**kwargs: Any) -> list[Manifest]:
    """The rendered objects (empty documents dropped)."""
    return [doc for doc in yaml.safe_load_all(template_text(**kwargs)) if doc]


@dataclass(frozen=True)
class Rendered:
    objects: list[Manifest]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str, name: str) -> Manifest:
        found = [obj for obj in self.of_kind(kind) if obj["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]


def pod_specs(objects: Iterable[Manifest]) -> Iterable[tuple[str, Manifest]]:
    """(kind/name, pod spec) of every Pod and pod template among the objects."""
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "Pod":
            yield where, obj["spec"]
        elif obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield where, obj["spec"]["template"]["spec"]


def load_chart_sync() -> ModuleType:
    """hack/chart-sync.py as a module (its file name is not importable)."""
    spec = importlib.util.spec_from_file_location("chart_sync", ROOT / "hack" / "chart-sync.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module
