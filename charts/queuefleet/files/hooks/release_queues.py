"""`helm uninstall` pre-delete hook: delete the release's WorkflowQueues while the operator runs.

kopf keeps a finalizer on every WorkflowQueue (it runs a timer per queue). Helm deletes the
operator, its RBAC and the queues at once, so nobody would be left to release those
finalizers and the queues (and the namespace) would hang. This hook deletes the queues
first and waits for the operator to release them; a queue still there after the timeout
(no operator running) gets the operator's finalizer removed, and the garbage collector
takes its children through their owner references.
"""

from __future__ import annotations

import os
import sys
import time

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from queuefleet_operator.constants import FINALIZER, GROUP, PLURAL, VERSION


def _remaining(api: client.CustomObjectsApi, namespace: str, selector: str) -> list[dict]:
    listed = api.list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, label_selector=selector
    )
    return list(listed.get("items", []))


def _wait_gone(
    api: client.CustomObjectsApi, namespace: str, selector: str, timeout: float
) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        left = _remaining(api, namespace, selector)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(2)


def main() -> int:
    namespace = os.environ["RELEASE_NAMESPACE"]
    selector = os.environ["QUEUE_SELECTOR"]
    timeout = float(os.environ.get("TIMEOUT_SECONDS", "120"))
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    api = client.CustomObjectsApi()
    started = time.monotonic()
    queues = _remaining(api, namespace, selector)
    for queue in queues:
        name = queue["metadata"]["name"]
        try:
            api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as error:
            if error.status != 404:
                raise
        print(f"deleting WorkflowQueue {namespace}/{name}")
    left = _wait_gone(api, namespace, selector, timeout)
    for queue in left:
        metadata = queue["metadata"]
        finalizers = [f for f in metadata.get("finalizers", []) if f != FINALIZER]
        print(
            f"no operator released {namespace}/{metadata['name']} in {timeout:.0f}s;"
            f" removing {FINALIZER}"
        )
        patch = {
            "metadata": {"finalizers": finalizers, "resourceVersion": metadata["resourceVersion"]}
        }
        try:
            api.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, metadata["name"], patch
            )
        except ApiException as error:
            if error.status not in (404, 409):  # gone, or changed meanwhile: the next wait tells
                raise
    left = _wait_gone(api, namespace, selector, 30)
    if left:
        print(f"still present: {[q['metadata']['name'] for q in left]}")
        return 1
    elapsed = time.monotonic() - started
    print(f"{len(queues)} WorkflowQueue(s) of this release are gone after {elapsed:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
