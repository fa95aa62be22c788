"""The labels a Prometheus selects worker PodMonitors by: --pod-monitor-labels, checked once.

kube-prometheus-stack's Prometheus selects PodMonitors by `release: <its Helm release>`, so
the operator must be able to put that label on the PodMonitors it creates, keep it there
(drift) and never let it disturb the labels it selects its own children by.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from queuefleet_operator import constants
from queuefleet_operator.command import add_arguments
from queuefleet_operator.config import ConfigError, OperatorConfig, parse_labels
from queuefleet_operator.drift import fingerprint
from queuefleet_operator.observed import Applied, Observed, child_snapshot
from queuefleet_operator.planner import Plan, plan_from_body

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LABELS = (("release", "kps"), ("team", "payments"))
CONFIG = OperatorConfig(
    temporal_address="temporal-frontend.temporal:7233",
    worker_image="ghcr.io/acme/worker:1.2.3",
    pod_monitor_labels=LABELS,
)
BODY = {
    "apiVersion": constants.API_VERSION,
    "kind": constants.KIND,
    "metadata": {"namespace": "ns", "name": "orders", "uid": "u-1", "generation": 1},
    "spec": {"taskQueue": "orders-tq"},
}
STATE = Observed(now=NOW, keda_installed=True, prometheus_operator_installed=True)


def plan(state: Observed = STATE, config: OperatorConfig = CONFIG) -> Plan:
    return plan_from_body(BODY, config, state)[1]


# ---- parsing and checking ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("release=kps", (("release", "kps"),)),
        (" team=payments , release=kps ,", (("release", "kps"), ("team", "payments"))),
        ("example.com/tier=gold", (("example.com/tier", "gold"),)),
        ("empty=", (("empty", ""),)),
    ],
)
def test_labels_parse_as_kubectl_writes_them(text: str, expected: object) -> None:
    assert parse_labels(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("release", "takes key=value pairs"),
        ("=kps", "takes key=value pairs"),
        ("release=a,release=b", "names the label 'release' twice"),
        ("Bad_Prefix/x=1", "'Bad_Prefix/x' is not a valid label key"),
        ("-release=kps", "'-release' is not a valid label key"),
        ("/release=kps", "'/release' is not a valid label key"),
        ("release=kube prometheus", "the value of 'release' is not a valid label value"),
        ("release=" + "x" * 64, "the value of 'release' is not a valid label value"),
        ("app.kubernetes.io/managed-by=me", "is set by the operator itself"),
        ("app.kubernetes.io/instance=x", "is set by the operator itself"),
    ],
)
def test_a_bad_label_is_one_error_naming_the_flag(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_labels(text)
    assert str(error.value).startswith("--pod-monitor-labels")
    assert message in str(error.value)


def test_the_config_checks_labels_given_directly_too() -> None:
    with pytest.raises(ConfigError) as error:
        OperatorConfig(pod_monitor_labels=(("app.kubernetes.io/name", "x"),))
    assert str(error.value).startswith("--pod-monitor-labels: 'app.kubernetes.io/name'")


def test_flag_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUEFLEET_OPERATOR_POD_MONITOR_LABELS", "release=kps")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).pod_monitor_labels == "release=kps"
    assert parser.parse_args(["--pod-monitor-labels", "a=b"]).pod_monitor_labels == "a=b"


# ---- the PodMonitor and the other children ----------------------------------------------


def test_the_pod_monitor_carries_the_labels_and_keeps_its_own() -> None:
    desired = plan().desired
    without = plan(config=replace(CONFIG, pod_monitor_labels=())).desired
    monitor = desired[constants.POD_MONITOR.kind]["metadata"]["labels"]
    own = without[constants.POD_MONITOR.kind]["metadata"]["labels"]
    assert monitor == {**own, "release": "kps", "team": "payments"}
    assert own[constants.LABEL_MANAGED_BY] == constants.MANAGED_BY
    # Only the PodMonitor: the labels say which Prometheus scrapes, nothing else.
    for kind, manifest in desired.items():
        if kind != constants.POD_MONITOR.kind:
            assert manifest["metadata"]["labels"] == without[kind]["metadata"]["labels"], kind


def _converged(config: OperatorConfig = CONFIG) -> tuple[Observed, dict[str, Any]]:
    first = plan(config=config)
    bodies = {kind: copy.deepcopy(m) | {"status": {}} for kind, m in first.desired.items()}
    for live in bodies.values():
        live["metadata"]["generation"] = 1
    state = replace(
        STATE,
        children={kind: child_snapshot(live) for kind, live in bodies.items()},
        applied={
            kind: Applied(
                config_hash=m["metadata"]["annotations"][constants.CONFIG_HASH_ANNOTATION],
                fingerprint=fingerprint(bodies[kind], m),
            )
            for kind, m in first.desired.items()
        },
    )
    return state, bodies


def test_a_removed_selector_label_is_drift_and_restored() -> None:
    state, bodies = _converged()
    assert constants.POD_MONITOR.kind not in {m["kind"] for m in plan(state).apply}
    live = copy.deepcopy(bodies[constants.POD_MONITOR.kind])
    del live["metadata"]["labels"]["release"]
    live["metadata"]["generation"] = 2
    edited = replace(
        state, children={**state.children, constants.POD_MONITOR.kind: child_snapshot(live)}
    )
    result = plan(edited)
    assert result.drifted == (constants.POD_MONITOR.kind,)
    (applied,) = result.apply
    assert applied["metadata"]["labels"]["release"] == "kps"


def test_changed_labels_in_the_operator_settings_update_the_pod_monitor() -> None:
    state, _ = _converged()
    result = plan(state, config=replace(CONFIG, pod_monitor_labels=(("release", "other"),)))
    assert [m["kind"] for m in result.apply] == [constants.POD_MONITOR.kind]
    assert result.drifted == ()
    labels = result.apply[0]["metadata"]["labels"]
    assert labels["release"] == "other"
    assert "team" not in labels
