"""What the operator benchmark follows by watching the API server, each in its own thread.

The bench watches instead of listing every second: a list of 500 queues every second, each
from a new kubectl, cost the API server more CPU than some of what it measured.
  - `KedaStandIn` marks every new ScaledObject Ready, as KEDA's controller does once it
    accepts one (the test bed runs no KEDA);
  - `ReadyCount` counts WorkflowQueues Ready with their children;
  - `AvailableCount` counts Deployments whose every replica is available (the floor run,
    where no operator writes a status).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from testbed.cluster import Cluster

__all__ = ["AvailableCount", "KedaStandIn", "ReadyCount", "Watcher", "api_client"]


def api_client(cluster: Cluster, *, connections: int = 8) -> Any:
    """The bench's own client (not the operator's), from the cluster's kubeconfig."""
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig), client_configuration=configuration
    )
    configuration.connection_pool_maxsize = connections
    return client.ApiClient(configuration)


class Watcher:
    """One watch stream in a thread, re-opened until stopped; `on_event` sees each event
    with the object as a plain dict (typed APIs' models are converted)."""

    def __init__(
        self,
        client: Any,
        list_function: Callable[..., Any],
        *args: str,
        on_event: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self._client, self._list, self._args, self._on_event = client, list_function, args, on_event
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch {args[-1]}", daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        version = ""  # where the next stream picks up
        while not self._stop.is_set():
            stream = watch.Watch()
            try:
                for event in stream.stream(
                    self._list, *self._args, resource_version=version, timeout_seconds=5
                ):
                    body = event["object"]
                    if not isinstance(body, dict):
                        body = self._client.sanitize_for_serialization(body)
                    version = body["metadata"]["resourceVersion"]
                    self._on_event(event["type"], body)
                    if self._stop.is_set():
                        stream.stop()
            except ApiException as error:
                if error.status != 410:  # 410 Gone: that version expired; start over
                    raise
                version = ""


class KedaStandIn:
    """Marks every new ScaledObject in `namespace` Ready, as KEDA's controller does once it
    accepts one."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        from kubernetes import client

        self._client = api_client(cluster)
        self._api = client.CustomObjectsApi(self._client)
        self._namespace = namespace
        self._accepted: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="keda stand-in")
        self._watch = Watcher(
            self._client,
            self._api.list_namespaced_custom_object,
            "keda.sh", "v1alpha1", namespace, "scaledobjects",
            on_event=self._seen,
        )  # fmt: skip

    def __enter__(self) -> KedaStandIn:
        self._watch.__enter__()
        return self

    def __exit__(self, *_: object) -> None:
        self._watch.__exit__()
        self._pool.shutdown(wait=True)

    def _seen(self, event_type: str, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        if event_type == "ADDED" and name not in self._accepted:
            self._accepted.add(name)
            self._pool.submit(self._accept, name)

    def _accept(self, name: str) -> None:
        condition = {
            "type": "Ready",
            "status": "True",
            "reason": "ScaledObjectReady",
            "message": "ScaledObject is defined correctly and is ready for scaling",
        }
        self._api.patch_namespaced_custom_object_status(
            "keda.sh", "v1alpha1", self._namespace, "scaledobjects", name,
            {"status": {"conditions": [condition]}},
        )  # fmt: skip


class _Count:
    """How many objects of one watch meet `counts`, by name."""

    def __init__(self, counts: Callable[[dict[str, Any]], bool]) -> None:
        self._counts = counts
        self._met: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._watch: Watcher | None = None

    def __enter__(self) -> _Count:
        assert self._watch is not None
        self._watch.__enter__()
        return self

    def __exit__(self, *_: object) -> None:
        assert self._watch is not None
        self._watch.__exit__()

    def _seen(self, event_type: str, body: dict[str, Any]) -> None:
        with self._lock:
            name = body["metadata"]["name"]
            if event_type == "DELETED":
                self._met.pop(name, None)
            else:
                self._met[name] = self._counts(body)

    def count(self) -> int:
        with self._lock:
            return sum(self._met.values())


def ready_with_children(queue: dict[str, Any]) -> bool:
    status = queue.get("status") or {}
    children = status.get("children") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return ready and bool(children.get("deployment")) and bool(children.get("scaledObject"))


def fully_available(deployment: dict[str, Any]) -> bool:
    """Every desired replica available, as the controller reported it for this spec."""
    metadata, spec = deployment["metadata"], deployment.get("spec") or {}
    status = deployment.get("status") or {}
    return status.get("observedGeneration") == metadata.get("generation") and status.get(
        "availableReplicas", 0
    ) >= spec.get("replicas", 1)


class ReadyCount(_Count):
    """WorkflowQueues Ready with their Deployment and ScaledObject, in `namespace`."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        from kubernetes import client

        super().__init__(ready_with_children)
        api = api_client(cluster)
        self._watch = Watcher(
            api,
            client.CustomObjectsApi(api).list_namespaced_custom_object,
            "queuefleet.dev", "v1alpha1", namespace, "workflowqueues",
            on_event=self._seen,
        )  # fmt: skip


class AvailableCount(_Count):
    """Deployments in `namespace` with every replica available."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        from kubernetes import client

        super().__init__(fully_available)
        api = api_client(cluster)
        self._watch = Watcher(
            api, client.AppsV1Api(api).list_namespaced_deployment, namespace, on_event=self._seen
        )
