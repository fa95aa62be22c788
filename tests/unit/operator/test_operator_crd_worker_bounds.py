"""Every value the CRD allows for a worker setting is one the worker's settings parser takes.

The operator turns spec fields into the worker's environment (manifests.worker_deployment);
the worker validates that environment at startup (queuefleet_worker.settings). A bound the
CRD allows but the worker refuses is a pod that crash-loops, so this walks each bound the
CRD declares through both, and checks each bound is tight (one step past it the worker
refuses too, so the CRD is not stricter than it needs to be either).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from queuefleet_operator.manifests import Target, worker_deployment
from queuefleet_operator.spec import QueueIdentity, SpecError, parse_spec
from queuefleet_worker.settings import SettingsError, load_settings

CRD = Path(__file__).resolve().parents[3] / "k8s" / "crd" / "workflowqueues.queuefleet.dev.yaml"
QUEUE = QueueIdentity(namespace="ns", name="q", uid="u")
TARGET = Target(temporal_address="temporal:7233", temporal_namespace="default", image="w:1")


def worker_props() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = crd["spec"]["versions"]
    props: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["worker"]["properties"]
    return props


def worker_env(worker: dict[str, Any]) -> dict[str, str]:
    """The environment the operator gives the worker container for this spec."""
    spec = parse_spec({"taskQueue": "orders", "worker": worker})
    deployment = worker_deployment(QUEUE, spec, TARGET, fixed_replicas=1)
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return {e["name"]: e["value"] for e in env if "value" in e}


def nested(path: str, value: Any) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    return {head: nested(rest, value) if rest else value}


# Integer worker fields that reach the worker's settings parser, by path under spec.worker.
INTEGER_FIELDS = (
    "concurrency.maxConcurrentActivities",
    "concurrency.maxConcurrentWorkflowTasks",
    "gracefulShutdownSeconds",
)


def bounds(path: str) -> dict[str, Any]:
    node: dict[str, Any] = {"properties": worker_props()}
    for part in path.split("."):
        node = node["properties"][part]
    return node


@pytest.mark.parametrize("path", INTEGER_FIELDS)
@pytest.mark.parametrize("end", ["minimum", "maximum"])
def test_every_integer_bound_the_crd_allows_starts_a_worker(path: str, end: str) -> None:
    value = bounds(path)[end]
    load_settings(worker_env(nested(path, value)))  # raises SettingsError on a mismatch


@pytest.mark.parametrize("path", INTEGER_FIELDS)
def test_below_the_crd_minimum_the_worker_refuses_too(path: str) -> None:
    below = bounds(path)["minimum"] - 1
    try:
        env = worker_env(nested(path, below))
    except SpecError:
        return  # the operator's own parser already refuses it, naming the field
    with pytest.raises(SettingsError):
        load_settings(env)


@pytest.mark.parametrize(
    "name",
    [
        "orders",
        "o",
        "orders-v2_blue",
        "x" * 255,  # the CRD's maxLength
    ],
)
def test_deployment_names_the_crd_allows_start_a_worker(name: str) -> None:
    assert len(name) <= bounds("deploymentName")["maxLength"]
    load_settings(worker_env({"deploymentName": name, "buildId": "v1"}))


@pytest.mark.parametrize("bad", ["orders.v2", "orders:v2"])
def test_deployment_names_the_worker_refuses_are_refused_by_crd_and_operator(bad: str) -> None:
    rules = " ".join(r["rule"] for r in bounds("deploymentName")["x-kubernetes-validations"])
    assert f"!self.contains('{bad[6]}')" in rules
    with pytest.raises(SpecError, match=r"spec\.worker\.deploymentName"):
        parse_spec({"taskQueue": "q", "worker": {"deploymentName": bad, "buildId": "v1"}})


def test_graceful_shutdown_reaches_the_worker_as_set() -> None:
    maximum = bounds("gracefulShutdownSeconds")["maximum"]
    settings = load_settings(worker_env({"gracefulShutdownSeconds": maximum}))
    assert settings.graceful_shutdown_seconds == maximum


def test_a_template_never_changes_what_the_worker_parses() -> None:
    """The template adds mounts, envFrom and sidecars; the worker's own env stays as set
    (explicit env wins over envFrom, so a ConfigMap cannot override the contract)."""
    template = {
        "spec": {
            "containers": [
                {"name": "worker", "envFrom": [{"configMapRef": {"name": "extra"}}]},
                {"name": "proxy", "image": "envoy:1"},
            ]
        }
    }
    plain = worker_env({"gracefulShutdownSeconds": 10})
    assert worker_env({"gracefulShutdownSeconds": 10, "template": template}) == plain
    load_settings(plain)
