"""k8s/policy/: the admission-time twin of the operator's image policy, on a real API server.

The shipped ValidatingAdmissionPolicy is applied as a cluster admin would, with its binding
narrowed to this test's namespace (the API server is shared by the session) and its prefix
list set; a WorkflowQueue naming an image outside it is refused at create, naming the field.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.cluster import Cluster
from tests.cluster.operator.conftest import eventually

POLICY = Path(__file__).resolve().parents[3] / "k8s" / "policy"
PREFIX = "registry.example.com/"


def queue(name: str, worker: dict[str, Any]) -> str:
    body = {
        "apiVersion": "queuefleet.dev/v1alpha1",
        "kind": "WorkflowQueue",
        "metadata": {"name": name},
        "spec": {"taskQueue": name, "worker": worker},
    }
    return json.dumps(body)


@pytest.fixture
def image_policy(queuefleet_crds: Cluster, namespace: str) -> Iterator[str]:
    suffix = uuid.uuid4().hex[:6]
    documents = []
    for path in sorted(POLICY.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            document["metadata"]["name"] += f"-{suffix}"
            if document["kind"] == "ValidatingAdmissionPolicy":
                variables = document["spec"]["variables"]
                assert variables[0]["name"] == "prefixes"
                variables[0]["expression"] = json.dumps([PREFIX]).replace('"', "'")
            else:
                document["spec"]["policyName"] += f"-{suffix}"
                document["spec"]["matchResources"] = {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                }
            documents.append(document)
    manifest = yaml.safe_dump_all(documents)
    queuefleet_crds.kubectl("apply", "-f", "-", stdin=manifest)
    yield namespace
    queuefleet_crds.kubectl("delete", "--ignore-not-found", "-f", "-", stdin=manifest)


def create(kube: Cluster, namespace: str, body: str) -> Any:
    # A server-side dry run passes admission without storing, so probes can repeat.
    return kube.kubectl(
        "-n", namespace, "create", "--dry-run=server", "-f", "-", stdin=body, check=False
    )


def test_images_outside_the_prefixes_are_refused_at_admission(
    queuefleet_crds: Cluster, image_policy: str
) -> None:
    kube, namespace = queuefleet_crds, image_policy
    # The API server enforces a new policy within a moment of its creation: wait for it.
    refused = eventually(
        lambda: (
            (r := create(kube, namespace, queue("bad", {"image": "docker.io/x/w:1"})))
            and r.returncode != 0
            and r
        ),
        what="the policy refusing an image outside the prefixes",
    )
    assert "spec.worker.image: docker.io/x/w:1 does not start with an allowed prefix" in (
        refused.stderr
    )
    sidecar = {"template": {"spec": {"containers": [{"name": "s", "image": "quay.io/s:1"}]}}}
    result = create(kube, namespace, queue("bad-sidecar", sidecar))
    assert result.returncode != 0
    assert "spec.worker.template" in result.stderr
    allowed = {"image": f"{PREFIX}worker:1", **sidecar}
    allowed["template"] = {"spec": {"containers": [{"name": "s", "image": f"{PREFIX}sidecar:1"}]}}
    kube.kubectl("-n", namespace, "create", "-f", "-", stdin=queue("good", allowed))
    kube.kubectl("-n", namespace, "create", "-f", "-", stdin=queue("default-image", {}))
