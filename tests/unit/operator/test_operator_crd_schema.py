"""The CRD file and the Python side agree: defaults, reserved env names, descriptions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from queuefleet_operator import constants, crdgen
from queuefleet_operator.manifests import Target, worker_deployment
from queuefleet_operator.spec import (
    QueueIdentity,
    ScalingSpec,
    SpecError,
    WorkerSpec,
    parse_spec,
)
from queuefleet_worker import contract

CRD = Path(__file__).resolve().parents[3] / "k8s" / "crd" / "workflowqueues.queuefleet.dev.yaml"


def schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = crd["spec"]["versions"]
    result: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return result


def spec_props(*path: str) -> dict[str, Any]:
    node = schema()["properties"]["spec"]
    for part in path:
        node = node["properties"][part]
    result: dict[str, Any] = node["properties"]
    return result


def test_names_match_the_constants() -> None:
    crd = yaml.safe_load(CRD.read_text())
    assert crd["spec"]["group"] == constants.GROUP
    assert crd["spec"]["names"]["kind"] == constants.KIND
    assert crd["spec"]["names"]["plural"] == constants.PLURAL
    assert crd["spec"]["names"]["shortNames"] == ["wfq"]
    assert crd["spec"]["versions"][0]["name"] == constants.VERSION
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_scaling_defaults_match_the_spec_view() -> None:
    props = spec_props("scaling")
    d = ScalingSpec()
    assert props["minReplicas"]["default"] == d.min_replicas
    assert props["maxReplicas"]["default"] == d.max_replicas
    assert props["targetBacklogPerReplica"]["default"] == d.target_backlog_per_replica
    assert props["activationBacklog"]["default"] == d.activation_backlog
    assert tuple(props["queueTypes"]["default"]) == d.queue_types
    assert props["pollingIntervalSeconds"]["default"] == d.polling_interval_seconds
    assert props["cooldownSeconds"]["default"] == d.cooldown_seconds
    assert props["scaleDownStabilizationSeconds"]["default"] == d.scale_down_stabilization_seconds


def test_worker_defaults_match_the_spec_view() -> None:
    props = spec_props("worker")
    d = WorkerSpec()
    assert props["gracefulShutdownSeconds"]["default"] == d.graceful_shutdown_seconds
    assert props["gracefulShutdownSeconds"]["default"] == contract.DEFAULT_GRACEFUL_SHUTDOWN_SECONDS
    assert props["imagePullPolicy"]["default"] == d.image_pull_policy
    assert props["runAsUser"]["default"] == d.run_as_user
    assert props["resources"]["default"] == d.resources


def test_reserved_env_names_are_the_ones_the_operator_sets() -> None:
    rule = spec_props("worker")["env"]["x-kubernetes-validations"][0]["rule"]
    reserved = set(re.findall(r"'([A-Z_]+)'", rule))
    everything = {
        "taskQueue": "q",
        "temporal": {
            "tls": {"secretName": "s", "caKey": "ca.crt", "serverName": "n"},
            "apiKeySecret": {"name": "k"},
        },
        "worker": {
            "registrars": ["a:b"],
            "concurrency": {"maxConcurrentActivities": 1, "maxConcurrentWorkflowTasks": 2},
            "deploymentName": "d",
            "buildId": "b",
        },
    }
    queue = QueueIdentity(namespace="ns", name="q", uid="u")
    target = Target(temporal_address="t:7233", temporal_namespace="n", image="i:1")
    deployment = worker_deployment(queue, parse_spec(everything), target, fixed_replicas=None)
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    set_by_operator = {e["name"] for e in env}
    assert reserved == set_by_operator == set(contract.DEPLOYER_ENV)


def test_reserved_env_rule_is_generated_from_the_contract() -> None:
    text = CRD.read_text()
    assert crdgen.rewrite(text) == text, "run python -m queuefleet_operator.crdgen"


def test_a_reserved_name_that_slipped_past_the_crd_is_named() -> None:
    bad = {"taskQueue": "q", "worker": {"env": [{"name": "X"}, {"name": "QUEUEFLEET_LOG_FORMAT"}]}}
    with pytest.raises(SpecError, match=r"spec\.worker\.env\[1\]\.name: QUEUEFLEET_LOG_FORMAT"):
        parse_spec(bad)


def test_every_field_has_a_description() -> None:
    missing: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        if path.count(".") > 0 and not node.get("description") and path != "metadata":
            missing.append(path)
        for name, child in (node.get("properties") or {}).items():
            if name == "metadata":
                continue
            walk(child, f"{path}.{name}")
        if "items" in node and node["items"].get("type") == "object":
            walk(node["items"], f"{path}[]")

    walk(schema(), "root")
    assert missing == []


def test_printer_columns() -> None:
    crd = yaml.safe_load(CRD.read_text())
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["Task Queue", "Ready", "Backlog", "Min", "Max", "Status", "Age"]
