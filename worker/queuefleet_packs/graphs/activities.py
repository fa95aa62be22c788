"""The graph nodes that reach the outside world: `http` calls and `webhook` deliveries.

Both only connect to hosts on the worker's allow-list (checked before any connection,
redirects are never followed) and ignore proxy settings from the environment. Secrets for
signing webhooks are configured on the worker and referenced by name from the graph.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .limits import fit_result

__all__ = [
    "HTTP_REQUEST_ACTIVITY",
    "WEBHOOK_ACTIVITY",
    "GraphActivities",
    "HostAllowList",
    "HttpRequest",
    "WebhookRequest",
]

HTTP_REQUEST_ACTIVITY = "graphs.http_request"
WEBHOOK_ACTIVITY = "graphs.deliver_webhook"
SIGNATURE_HEADER = "X-Queuefleet-Signature"
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass
class HttpRequest:
    node: str
    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    expect_status: list[int] = field(default_factory=list)  # empty: any 2xx or 3xx
    timeout_seconds: float = 30.0
    max_result_bytes: int = 16 * 1024


@dataclass
class WebhookRequest:
    node: str
    url: str
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    sign_with: str | None = None  # name of a secret configured on the worker
    timeout_seconds: float = 30.0
    max_result_bytes: int = 16 * 1024


@dataclass(frozen=True)
class HostAllowList:
    """Hosts graph nodes may reach: `host`, `host:port` or `*.domain` entries."""

    entries: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> HostAllowList:
        return cls(tuple(sorted({e.strip().lower() for e in text.split(",") if e.strip()})))

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            return False
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return False
        for entry in self.entries:
            pattern, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
            if entry_port and entry_port != str(port):
                continue
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]):
                    return True
            elif host == pattern.strip("[]"):
                return True
        return False


def _has_port(entry: str) -> bool:
    host, sep, port = entry.rpartition(":")
    return bool(sep) and port.isdigit() and (not host.count(":") or host.endswith("]"))


class GraphActivities:
    """Activities for `http` and `webhook` nodes, with their dependencies injected."""

    def __init__(
        self, *, allow_list: HostAllowList, secrets: Mapping[str, str] | None = None
    ) -> None:
        self.allow_list = allow_list
        self.secrets = dict(secrets or {})

    @activity.defn(name=HTTP_REQUEST_ACTIVITY)
    async def http_request(self, request: HttpRequest) -> dict[str, Any]:
        self._check_host(request.node, request.url)
        body = None if request.body is None else json.dumps(request.body).encode()
        headers = dict(request.headers)
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        status, response_headers, payload = await _send(
            request.method, request.url, headers=headers, query=request.query, body=body,
            timeout=request.timeout_seconds,
        )  # fmt: skip
        _check_status(request.node, request.method, request.url, status, request.expect_status)
        result = {"status": status, "headers": response_headers, "body": payload}
        fitted: dict[str, Any] = fit_result(result, request.max_result_bytes)
        return fitted

    @activity.defn(name=WEBHOOK_ACTIVITY)
    async def deliver_webhook(self, request: WebhookRequest) -> dict[str, Any]:
        self._check_host(request.node, request.url)
        body = json.dumps(request.payload, sort_keys=True, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **request.headers}
        if request.sign_with is not None:
            secret = self.secrets.get(request.sign_with.lower())
            if secret is None:
                raise ApplicationError(
                    f"node {request.node!r}: secret {request.sign_with!r} "
                    "is not configured on this worker",
                    type="SecretMissing",
                    non_retryable=True,
                )
            digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        status, _, payload = await _send(
            "POST",
            request.url,
            headers=headers,
            query={},
            body=body,
            timeout=request.timeout_seconds,
        )
        _check_status(request.node, "POST", request.url, status, [])
        result = {"status": status, "delivered": True, "response": payload}
        fitted: dict[str, Any] = fit_result(result, request.max_result_bytes)
        return fitted

    def _check_host(self, node: str, url: str) -> None:
        if not self.allow_list.allows(url):
            host = urlsplit(url).netloc or url
            raise ApplicationError(
                f"node {node!r}: {host!r} is not on the worker's HTTP allow-list",
                type="HostNotAllowed",
                non_retryable=True,
            )


async def _send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes | None,
    timeout: float,  # noqa: ASYNC109 (passed to aiohttp's own ClientTimeout)
) -> tuple[int, dict[str, str], Any]:
    import aiohttp  # only workers running graph activities need it

    try:
        async with (
            aiohttp.ClientSession(
                trust_env=False, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as session,
            session.request(
                method,
                url,
                headers=dict(headers),
                params=dict(query),
                data=body,
                allow_redirects=False,
            ) as response,
        ):
            text = await response.text(errors="replace")
            response_headers = {k.lower(): v for k, v in response.headers.items()}
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as error:
        # retryable: the network or the service may recover
        raise ApplicationError(
            f"{method} {url} failed: {error or type(error).__name__}", type="HttpError"
        ) from error
    payload: Any = text
    if "json" in response_headers.get("content-type", ""):
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = text
    return status, response_headers, payload


def _check_status(node: str, method: str, url: str, status: int, expect: list[int]) -> None:
    ok = status in expect if expect else 200 <= status < 400
    if ok:
        return
    message = f"node {node!r}: {method} {url} returned HTTP {status}"
    if status in _RETRYABLE_STATUS:
        raise ApplicationError(message, type="HttpStatus")
    raise ApplicationError(message, type="HttpStatus", non_retryable=True)
