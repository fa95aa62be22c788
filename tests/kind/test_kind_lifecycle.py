"""The release's lifecycle, last in the tier: bounce again, `helm test`, `helm uninstall`.

tests/kind/conftest.py runs this module after every other one of the tier; its tests run
in the order written, the last one removes the release.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from testbed.kind import KindRelease, PhaseTimings, get_json, helm, phases_from_lines

# What the chart and the operator make is labelled part-of=queuefleet; the dev loop's own
# packs database (part-of=queuefleet-dev) is not the release's and stays.
RELEASE_OBJECTS = (
    "pods,services,deployments,scaledobjects",
    "-l",
    "app.kubernetes.io/part-of=queuefleet",
)


def test_a_second_dev_bounce_reuses_the_cluster_and_converges(
    kind_release: KindRelease, record_timings: Callable[[str, PhaseTimings], None]
) -> None:
    node = json.loads(kind_release.kubectl("get", "nodes", "-o", "json").stdout)["items"][0]
    started = time.monotonic()
    lines = kind_release.make("dev-bounce")
    record_timings(
        "second make dev-bounce OFFLINE=1 (idempotent)",
        phases_from_lines(lines, started, time.monotonic()),
    )
    output = "\n".join(line for _, line in lines)
    assert f"kind cluster {kind_release.name} already exists" in output
    assert "Creating cluster" not in output
    again = json.loads(kind_release.kubectl("get", "nodes", "-o", "json").stdout)["items"][0]
    assert again["metadata"]["uid"] == node["metadata"]["uid"]
    selector = "app.kubernetes.io/component in (operator,worker)"
    for deployment in get_json(kind_release, "deployments", "-l", selector)["items"]:
        status = deployment["status"]
        assert status.get("readyReplicas") == deployment["spec"]["replicas"], status


def test_helm_test_passes(kind_release: KindRelease) -> None:
    result = helm(kind_release, "test", kind_release.release, "--timeout", "5m")
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "Phase:          Succeeded" in result.stdout, result.stdout


def test_helm_uninstall_leaves_no_pods_services_or_queues(kind_release: KindRelease) -> None:
    result = helm(kind_release, "uninstall", kind_release.release, "--wait", "--timeout", "5m")
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    deadline = time.monotonic() + 180
    left: list[str] = []
    while time.monotonic() < deadline:
        objects = kind_release.kubectl(
            "--namespace", kind_release.namespace, "get", *RELEASE_OBJECTS, "-o", "name"
        )
        queues = kind_release.kubectl(
            "--namespace", kind_release.namespace, "get", "workflowqueues", "-o", "name"
        )
        left = objects.stdout.split() + queues.stdout.split()
        if not left:
            break
        time.sleep(2)
    assert not left, f"left behind after helm uninstall: {left}"
