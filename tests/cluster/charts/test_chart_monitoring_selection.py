"""A stock kube-prometheus-stack's Prometheus selects what the chart and the operator create.

kube-prometheus-stack renders its Prometheus, with default values, with a `release: <its Helm
release>` label selector for ServiceMonitors, PodMonitors and PrometheusRules (the
`prometheus.prometheusSpec.*SelectorNilUsesHelmValues: true` defaults) and `{}` namespace
selectors, which the Prometheus Operator reads as every namespace. Here the chart is
installed with `monitoring.labels: {release: kps}` into a real API server that serves the
Prometheus Operator's CRDs, the operator runs with the chart's own ConfigMap and
ServiceAccount, and the API server's label selection decides what that Prometheus sees.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.cluster import Cluster, install_crds, uninstall_crds
from testbed.process import Process, free_port, http_ok
from tests.cluster.charts.test_chart_install import (
    _operator_command,
    _service_account_kubeconfig,
    eventually,
)
from tests.conftest import component_missing
from tests.unit.charts.helmchart import CHART, Rendered, render, run_helm

RELEASE = "qf"
STACK = "kps"
TIMEOUT = 90.0
# kubectl resource name of each kind a Prometheus selects, and the field of its spec.
SELECTED = {
    "servicemonitors": "serviceMonitor",
    "podmonitors": "podMonitor",
    "prometheusrules": "rule",
}


@dataclass(frozen=True)
class PrometheusSelectors:
    """The selectors of one Prometheus object's spec (`<field>Selector` and
    `<field>NamespaceSelector`), as Kubernetes LabelSelectors."""

    spec: Mapping[str, Any]

    @classmethod
    def kube_prometheus_stack_default(cls, release: str) -> PrometheusSelectors:
        """What kube-prometheus-stack's templates/prometheus/prometheus.yaml renders with
        its default values for a Helm release named `release`."""
        spec: dict[str, Any] = {}
        for field in SELECTED.values():
            spec[f"{field}Selector"] = {"matchLabels": {"release": release}}
            spec[f"{field}NamespaceSelector"] = {}
        return cls(spec)

    def selected(self, kube: Cluster, resource: str) -> set[str]:
        """`namespace/name` of every object of `resource` this Prometheus would load."""
        field = SELECTED[resource]
        namespaces = _names(
            kube, "namespaces", _selector(self.spec[f"{field}NamespaceSelector"]), everywhere=False
        )
        objects = _names(kube, resource, _selector(self.spec[f"{field}Selector"]), everywhere=True)
        return {o for o in objects if o.split("/", 1)[0] in namespaces}


def _selector(label_selector: Mapping[str, Any]) -> str:
    """A LabelSelector as `kubectl -l` takes it; empty selects everything."""
    terms = [f"{k}={v}" for k, v in sorted(label_selector.get("matchLabels", {}).items())]
    for expression in label_selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = ",".join(expression.get("values", []))
        terms.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[operator]
        )
    return ",".join(terms)


def _names(kube: Cluster, resource: str, selector: str, *, everywhere: bool) -> set[str]:
    args = ["get", resource, "-o", "json"]
    if everywhere:
        args.append("--all-namespaces")
    if selector:
        args += ["-l", selector]
    items = json.loads(kube.kubectl(*args).stdout)["items"]
    if not everywhere:
        return {item["metadata"]["name"] for item in items}
    return {f"{item['metadata']['namespace']}/{item['metadata']['name']}" for item in items}


@pytest.fixture(scope="module")
def monitoring_crds(kube: Cluster) -> Iterator[Cluster]:
    """Our CRDs and the Prometheus Operator's; the latter removed again afterwards, so other
    tests see a cluster without them."""
    directory = os.environ.get("QUEUEFLEET_PROMETHEUS_OPERATOR_CRDS")
    if not directory or not Path(directory).is_dir():
        component_missing("QUEUEFLEET_PROMETHEUS_OPERATOR_CRDS is not set; run through make")
    install_crds(kube, CHART / "crds")
    install_crds(kube, Path(str(directory)))
    yield kube
    uninstall_crds(kube, Path(str(directory)))


def _values(path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "temporal": {"server": {"persistence": {"enabled": False}}},
                "operator": {"watchScope": "namespaces"},
                "monitoring": {
                    "labels": {"release": STACK},
                    "serviceMonitor": {"enabled": True},
                    "prometheusRule": {"enabled": True},
                },
                "queues": [{"name": "orders"}],
            }
        )
    )
    return path


def _exists(kube: Cluster, namespace: str, resource: str, name: str) -> bool:
    result = kube.kubectl("-n", namespace, "get", resource, name, check=False)
    return result.returncode == 0


def _labels(kube: Cluster, namespace: str, resource: str, name: str) -> dict[str, str]:
    body = json.loads(kube.kubectl("-n", namespace, "get", resource, name, "-o", "json").stdout)
    labels: dict[str, str] = body["metadata"].get("labels", {})
    return labels


def test_the_stacks_default_selectors_pick_up_every_monitor_and_rule(
    monitoring_crds: Cluster, namespace: str, tmp_path: Path, artifacts: Path
) -> None:
    kube = monitoring_crds
    values = _values(tmp_path / "values.yaml")
    installed = run_helm(
        "helm", "install", RELEASE, str(CHART), "--namespace", namespace,
        "--values", str(values), home=tmp_path, kubeconfig=kube.kubeconfig,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    rendered = Rendered(render(home=tmp_path, values_files=[values], namespace=namespace))
    liveness = free_port()
    argv, env = _operator_command(rendered, liveness=liveness, metrics=free_port())
    assert env["QUEUEFLEET_OPERATOR_POD_MONITOR_LABELS"] == f"release={STACK}"
    kubeconfig = _service_account_kubeconfig(
        kube, namespace, f"{RELEASE}-queuefleet-operator", tmp_path / "operator.kubeconfig"
    )
    process = Process.start(
        "operator",
        argv,
        log_path=artifacts / "chart-monitoring" / f"{namespace}.log",
        env={**env, "KUBECONFIG": str(kubeconfig)},
    )
    try:
        process.wait_until(
            lambda: http_ok(f"http://127.0.0.1:{liveness}/healthz"), timeout=30, what="liveness"
        )
        process.wait_until(
            lambda: _exists(kube, namespace, "podmonitor", "orders-worker"),
            timeout=TIMEOUT,
            what="the PodMonitor of queue orders",
        )

        # What `kubectl get <kind> -l release=kps` finds: everything of this release.
        def found(resource: str) -> set[str]:
            return set(
                kube.kubectl(
                    "-n", namespace, "get", resource, "-l", f"release={STACK}", "-o", "name"
                ).stdout.split()
            )

        assert found("podmonitors") == {"podmonitor.monitoring.coreos.com/orders-worker"}
        assert found("servicemonitors") == {
            f"servicemonitor.monitoring.coreos.com/{RELEASE}-queuefleet-operator",
            f"servicemonitor.monitoring.coreos.com/{RELEASE}-queuefleet-temporal",
        }
        assert found("prometheusrules") == {
            f"prometheusrule.monitoring.coreos.com/{RELEASE}-queuefleet"
        }

        # A Prometheus of that stack loads all of them; one of another release loads none.
        ours = {
            "podmonitors": {f"{namespace}/orders-worker"},
            "servicemonitors": {
                f"{namespace}/{RELEASE}-queuefleet-operator",
                f"{namespace}/{RELEASE}-queuefleet-temporal",
            },
            "prometheusrules": {f"{namespace}/{RELEASE}-queuefleet"},
        }
        stack = PrometheusSelectors.kube_prometheus_stack_default(STACK)
        other = PrometheusSelectors.kube_prometheus_stack_default("another-stack")
        for resource, expected in ours.items():
            assert expected <= stack.selected(kube, resource), resource
            assert not expected & other.selected(kube, resource), resource

        # The label is the operator's to keep: taken off by hand, it comes back.
        kube.kubectl("-n", namespace, "label", "podmonitor", "orders-worker", "release-")
        restored = eventually(
            lambda: _labels(kube, namespace, "podmonitor", "orders-worker").get("release"),
            what="the release label restored on the PodMonitor",
            timeout=TIMEOUT,
        )
        assert restored == STACK
        log = process.log_path.read_text()
        assert "forbidden" not in log.lower(), log[-3000:]
    finally:
        process.stop()
        run_helm(
            "helm", "uninstall", RELEASE, "--namespace", namespace, "--ignore-not-found",
            "--no-hooks", home=tmp_path, kubeconfig=kube.kubeconfig, timeout=60,
        )  # fmt: skip
