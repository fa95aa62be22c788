"""monitoring.labels reaches every object a Prometheus selects by label, and the operator.

A stock kube-prometheus-stack's Prometheus selects ServiceMonitors, PodMonitors and
PrometheusRules by `release: <its Helm release>`; the chart renders the first and the last,
the operator the PodMonitors (from --pod-monitor-labels, which the chart's ConfigMap sets).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.charts.helmchart import HelmError, Manifest, Rendered, render

ON = {
    "monitoring.serviceMonitor.enabled": "true",
    "monitoring.prometheusRule.enabled": "true",
    "monitoring.dashboards.enabled": "true",
}
SELECTED_KINDS = ("ServiceMonitor", "PrometheusRule")
OPERATOR_CONFIG = "qf-queuefleet-operator"


def _render(tmp_path: Path, **values: str) -> Rendered:
    return Rendered(render(home=tmp_path, set_values={**ON, **values}))


def _selected(rendered: Rendered) -> list[Manifest]:
    return [o for kind in SELECTED_KINDS for o in rendered.of_kind(kind)]


def _pod_monitor_labels(rendered: Rendered) -> str:
    data = rendered.one("ConfigMap", OPERATOR_CONFIG)["data"]
    value: str = data["QUEUEFLEET_OPERATOR_POD_MONITOR_LABELS"]
    return value


def test_one_value_labels_every_monitor_rule_and_the_operators_pod_monitors(
    tmp_path: Path,
) -> None:
    rendered = _render(tmp_path, **{"monitoring.labels.release": "kps"})
    objects = _selected(rendered)
    assert {o["kind"] for o in objects} == set(SELECTED_KINDS)
    assert len(objects) == 3  # the operator's and the dev server's ServiceMonitors, the rules
    for obj in objects:
        assert obj["metadata"]["labels"]["release"] == "kps", obj["metadata"]["name"]
    assert _pod_monitor_labels(rendered) == "release=kps"
    # Grafana finds dashboards by its own label, not Prometheus'.
    for dashboard in rendered.of_kind("ConfigMap"):
        if "dashboard" in dashboard["metadata"]["name"]:
            assert "release" not in dashboard["metadata"]["labels"]


def test_each_objects_own_labels_go_on_top(tmp_path: Path) -> None:
    rendered = _render(
        tmp_path,
        **{
            "monitoring.labels.release": "kps",
            "monitoring.labels.team": "payments",
            "monitoring.serviceMonitor.labels.release": "scrapes",
            "monitoring.prometheusRule.labels.role": "alerts",
            "monitoring.podMonitor.labels.release": "pods",
            "commonLabels.team": "everyone",
        },
    )
    for monitor in rendered.of_kind("ServiceMonitor"):
        labels = monitor["metadata"]["labels"]
        assert (labels["release"], labels["team"]) == ("scrapes", "payments")
        assert "role" not in labels
    (rule,) = rendered.of_kind("PrometheusRule")
    assert {k: rule["metadata"]["labels"][k] for k in ("release", "team", "role")} == {
        "release": "kps",
        "team": "payments",
        "role": "alerts",
    }
    # commonLabels stay on everything else; a monitoring label of the same key wins here.
    assert rendered.one("ConfigMap", OPERATOR_CONFIG)["metadata"]["labels"]["team"] == "everyone"
    assert _pod_monitor_labels(rendered) == "release=pods,team=payments"


def test_standard_labels_stay_and_values_stay_strings(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text('monitoring: {labels: {release: "2024"}}\n')
    rendered = Rendered(render(home=tmp_path, values_files=[values], set_values=ON))
    for obj in _selected(rendered):
        labels = obj["metadata"]["labels"]
        assert labels["release"] == "2024"
        assert labels["app.kubernetes.io/instance"] == "qf"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert all(isinstance(value, str) for value in labels.values())


def test_without_labels_the_operator_gets_none(tmp_path: Path) -> None:
    rendered = _render(tmp_path)
    assert _pod_monitor_labels(rendered) == ""
    for obj in _selected(rendered):
        assert "release" not in obj["metadata"]["labels"]


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("monitoring.labels.app\\.kubernetes\\.io/name", "monitoring.labels"),
        ("monitoring.podMonitor.labels.app\\.kubernetes\\.io/managed-by", "monitoring.podMonitor"),
        ("monitoring.serviceMonitor.labels.helm\\.sh/chart", "monitoring.serviceMonitor.labels"),
    ],
)
def test_the_charts_own_label_keys_are_refused_naming_the_value(
    key: str, field: str, tmp_path: Path
) -> None:
    with pytest.raises(HelmError) as error:
        _render(tmp_path, **{key: "x"})
    assert field in str(error.value)
    assert "one of the chart's own labels" in str(error.value)


def test_a_malformed_label_is_refused_by_the_schema(tmp_path: Path) -> None:
    with pytest.raises(HelmError) as error:
        _render(tmp_path, **{"monitoring.labels.release": "not a label value"})
    assert "/monitoring/labels/release" in str(error.value)
