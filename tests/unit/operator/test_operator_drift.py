"""Drift compares only the fields our manifest sets, matching list items by name."""

from __future__ import annotations

from queuefleet_operator.drift import fingerprint, project, subset_matches

DESIRED = {
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {"name": "worker", "image": "w:1", "env": [{"name": "A", "value": "1"}]}
                ]
            }
        }
    }
}


def live(**container: object) -> dict[str, object]:
    base = {"name": "worker", "image": "w:1", "env": [{"name": "A", "value": "1"}]}
    return {
        "spec": {
            "replicas": 4,
            "template": {
                "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}},
                "spec": {
                    "containers": [
                        {"name": "sidecar", "image": "s:1"},  # someone else's, first in the list
                        {**base, "terminationMessagePath": "/dev/termination-log", **container},
                    ]
                },
            },
        },
        "status": {"replicas": 4},
    }


def test_fields_we_do_not_set_leave_the_projection_alone() -> None:
    assert project(live(), DESIRED) == DESIRED
    assert subset_matches(live(), DESIRED)
    assert fingerprint(live(), DESIRED) == fingerprint(DESIRED, DESIRED)


def test_a_changed_or_missing_value_we_set_changes_the_fingerprint() -> None:
    baseline = fingerprint(live(), DESIRED)
    assert fingerprint(live(image="evil:1"), DESIRED) != baseline
    assert fingerprint(live(env=[]), DESIRED) != baseline
    assert not subset_matches(live(env=[{"name": "A", "value": "2"}]), DESIRED)
