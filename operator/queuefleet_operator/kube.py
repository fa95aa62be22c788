"""The few Kubernetes API calls the operator makes, over the official client's REST layer.

Blocking calls (the handlers run them in worker threads). Server-side apply is generic over
kinds, so one `apply` serves every child. "Not found" on delete and on status writes is a
normal outcome, not an error.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from . import constants
from .constants import ChildKind

__all__ = ["KubeApi", "KubeError"]

_TIMEOUT = (5.0, 30.0)  # connect, read


class KubeError(RuntimeError):
    """An API call failed with an unexpected status; `status` is the HTTP code (0: no reply)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class KubeApi:
    def __init__(self, api_client: Any) -> None:
        self._client = api_client

    @classmethod
    def from_environment(cls, *, connections: int = 10) -> KubeApi:
        """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG).

        `connections`: pooled HTTP connections, one per thread that calls at once.
        """
        from kubernetes import client, config

        configuration = client.Configuration()
        configuration.connection_pool_maxsize = connections
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls(client.ApiClient(configuration))

    def close(self) -> None:
        self._client.close()

    def apply(
        self, manifest: Mapping[str, Any], *, field_manager: str = constants.FIELD_MANAGER
    ) -> dict[str, Any]:
        """Server-side apply (as the operator's field manager), taking over fields it sets."""
        kind = constants.KINDS_BY_NAME[str(manifest["kind"])]
        metadata = manifest["metadata"]
        path = _path(kind, metadata["namespace"], metadata["name"])
        return self._request(
            "PATCH",
            path,
            query={"fieldManager": field_manager, "force": "true"},
            body=manifest,
            content_type="application/apply-patch+yaml",
        )

    def delete(self, kind: ChildKind, namespace: str, name: str) -> bool:
        """Delete one child; False when it was already gone."""
        try:
            self._request(
                "DELETE",
                _path(kind, namespace, name),
                body={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "propagationPolicy": "Background",
                },
            )
        except KubeError as error:
            if error.status == 404:
                return False
            raise
        return True

    def patch_status(
        self,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        resource_version: str | None = None,
    ) -> dict[str, Any] | None:
        """Merge-patch a WorkflowQueue's status subresource; the updated queue, or None when
        it is gone. With `resource_version` the write happens only if the queue is still at
        that version (else KubeError with status 409)."""
        path = (
            f"/apis/{constants.GROUP}/{constants.VERSION}/namespaces/{namespace}/"
            f"{constants.PLURAL}/{name}/status"
        )
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            return self._request(
                "PATCH", path, body=body, content_type="application/merge-patch+json"
            )
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    def crd_established(self, name: str) -> bool:
        try:
            crd = self._request(
                "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
            )
        except KubeError as error:
            if error.status == 404:
                return False
            raise
        conditions = (crd.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

    def list_children(
        self, kind: ChildKind, *, label_selector: str, namespace: str | None
    ) -> list[dict[str, Any]]:
        """Every object of `kind` matching the selector (in one namespace, or all)."""
        prefix = "/api/v1" if kind.group == "" else f"/apis/{kind.api_version}"
        where = f"/namespaces/{namespace}" if namespace else ""
        listing = self._request(
            "GET", f"{prefix}{where}/{kind.plural}", query={"labelSelector": label_selector}
        )
        items = listing.get("items") or []
        for item in items:  # list items carry no kind of their own
            item.setdefault("kind", kind.kind)
            item.setdefault("apiVersion", kind.api_version)
        return list(items)

    def peering_status(self, name: str, namespace: str | None) -> dict[str, Any]:
        """The peers in kopf's peering object (KopfPeering, or ClusterKopfPeering without a
        namespace): {identity: {priority, lastseen, lifetime}}; empty when it is missing."""
        where = f"namespaces/{namespace}/kopfpeerings" if namespace else "clusterkopfpeerings"
        try:
            peering = self._request("GET", f"/apis/kopf.dev/v1/{where}/{name}")
        except KubeError as error:
            if error.status == 404:
                return {}
            raise
        status = peering.get("status") or {}
        return dict(status) if isinstance(status, Mapping) else {}

    def read_secret_value(self, namespace: str, name: str, key: str) -> bytes:
        secret = self._request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        data = secret.get("data") or {}
        if key not in data:
            raise KubeError(f"Secret {namespace}/{name} has no key {key!r}", status=404)
        return base64.b64decode(data[key])

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            method, url, headers, _, _ = self._client.param_serialize(
                method=method,
                resource_path=path,
                query_params=list((query or {}).items()),
                header_params=headers,
                auth_settings=["BearerToken"],
            )
            response = self._client.call_api(
                method,
                url,
                header_params=headers,
                body=body,  # the REST layer serializes JSON (and YAML content types) itself
                _request_timeout=_TIMEOUT,
            )
            data = response.read()
        except ApiException as error:
            raise KubeError(f"{method} {path}: {error.reason}", status=error.status or 0) from error
        except (HTTPError, OSError) as error:
            raise KubeError(f"{method} {path}: {error}") from error
        if response.status >= 300:
            raise KubeError(f"{method} {path}: {_message(data)}", status=response.status)
        return json.loads(data) if data else {}


def _path(kind: ChildKind, namespace: str, name: str) -> str:
    prefix = "/api/v1" if kind.group == "" else f"/apis/{kind.api_version}"
    return f"{prefix}/namespaces/{namespace}/{kind.plural}/{name}"


def _message(data: bytes) -> str:
    """The API server's own words for a failure (its Status message)."""
    try:
        return str(json.loads(data).get("message") or data[:500].decode(errors="replace"))
    except ValueError:
        return data[:500].decode(errors="replace")
