"""The graph nodes that reach the outside world: `http` calls and `webhook` deliveries.

Both only connect to hosts on the worker's allow-list (checked before any connection,
redirects are never followed) and ignore proxy settings from the environment. The host
name is resolved here, every address is checked against the worker's address policy, and
the connection goes to exactly those addresses. Response bodies are read in chunks up to
a byte cap; headers that route a request or belong to a proxy are refused. Webhook
secrets are configured on the worker, each bound to the hosts it may sign for, and named
from the graph; a signature covers a timestamp and the body, so a receiver can refuse
replays (see examples/graphs/README.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .egress import AddressPolicy, Target, UrlError, header_problem, parse_url
from .limits import LimitError, fit_result

__all__ = [
    "HTTP_REQUEST_ACTIVITY",
    "MAX_RESPONSE_BYTES",
    "SIGNATURE_HEADER",
    "WEBHOOK_ACTIVITY",
    "GraphActivities",
    "HostAllowList",
    "HttpRequest",
    "WebhookRequest",
    "WebhookSecret",
    "sign",
]

HTTP_REQUEST_ACTIVITY = "graphs.http_request"
WEBHOOK_ACTIVITY = "graphs.deliver_webhook"
SIGNATURE_HEADER = "X-Queuefleet-Signature"
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# A response body larger than this fails the node; it is read in chunks, never whole.
MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024
_CHUNK_BYTES: Final = 64 * 1024
# Resolves (host, port) to IP addresses; injectable so tests can point names at loopback.
Resolver = Callable[[str, int], Awaitable[list[str]]]


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
    """Hosts graph nodes may reach: `host`, `host:port` or `*.domain` entries. An entry
    without a port allows the scheme's default port only (80 for http, 443 for https)."""

    entries: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> HostAllowList:
        return cls(tuple(sorted({e.strip().lower() for e in text.split(",") if e.strip()})))

    def allows(self, url: str) -> bool:
        try:
            target = parse_url(url)
        except UrlError:
            return False
        return self.allows_target(target)

    def allows_target(self, target: Target) -> bool:
        for entry in self.entries:
            pattern, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
            if entry_port and entry_port != str(target.port):
                continue
            if not entry_port and not target.default_port:
                continue
            pattern = pattern.strip("[]")
            if pattern.startswith("*."):
                if target.host.endswith(pattern[1:]):
                    return True
            elif target.host == pattern:
                return True
        return False


def _has_port(entry: str) -> bool:
    host, sep, port = entry.rpartition(":")
    return bool(sep) and port.isdigit() and (not host.count(":") or host.endswith("]"))


@dataclass(frozen=True)
class WebhookSecret:
    """A signing secret and the hosts it may sign for (an allow-list of its own)."""

    value: str
    hosts: HostAllowList = field(default_factory=HostAllowList)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _failure(message: str, kind: str, *, retryable: bool = False) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=not retryable)


class GraphActivities:
    """Activities for `http` and `webhook` nodes, with their dependencies injected."""

    def __init__(
        self,
        *,
        allow_list: HostAllowList,
        secrets: Mapping[str, WebhookSecret] | None = None,
        addresses: AddressPolicy | None = None,
        resolve: Resolver | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.allow_list = allow_list
        self.secrets = {name.lower(): secret for name, secret in (secrets or {}).items()}
        self.addresses = addresses or AddressPolicy.parse()
        self.resolve = resolve or _system_resolve
        self.max_response_bytes = max_response_bytes

    @activity.defn(name=HTTP_REQUEST_ACTIVITY)
    async def http_request(self, request: HttpRequest) -> dict[str, Any]:
        target = self._check_host(request.node, request.url)
        _check_headers(request.node, request.headers)
        body = None if request.body is None else json.dumps(request.body).encode()
        headers = dict(request.headers)
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        status, response_headers, payload = await self._send(
            request.node, request.method, request.url, target, headers=headers,
            query=request.query, body=body, timeout=request.timeout_seconds,
        )  # fmt: skip
        _check_status(request.node, request.method, request.url, status, request.expect_status)
        result = {"status": status, "headers": response_headers, "body": payload}
        return _fitted(request.node, result, request.max_result_bytes)

    @activity.defn(name=WEBHOOK_ACTIVITY)
    async def deliver_webhook(self, request: WebhookRequest) -> dict[str, Any]:
        target = self._check_host(request.node, request.url)
        _check_headers(request.node, request.headers)
        body = json.dumps(request.payload, sort_keys=True, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **request.headers}
        if request.sign_with is not None:
            secret = self._secret_for(request.node, request.sign_with, target)
            headers[SIGNATURE_HEADER] = sign(secret.value, int(time.time()), body)
        status, _, payload = await self._send(
            request.node, "POST", request.url, target, headers=headers, query={}, body=body,
            timeout=request.timeout_seconds,
        )  # fmt: skip
        _check_status(request.node, "POST", request.url, status, [])
        result = {"status": status, "delivered": True, "response": payload}
        return _fitted(request.node, result, request.max_result_bytes)

    def _secret_for(self, node: str, name: str, target: Target) -> WebhookSecret:
        secret = self.secrets.get(name.lower())
        if secret is None:
            raise _failure(
                f"node {node!r}: secret {name!r} is not configured on this worker",
                "SecretMissing",
            )
        if not secret.hosts.allows_target(target):
            raise _failure(
                f"node {node!r}: secret {name!r} may not sign for {target.host}:{target.port} "
                f"(its hosts: {', '.join(secret.hosts.entries) or 'none configured'})",
                "SecretNotForHost",
            )
        return secret

    def _check_host(self, node: str, url: str) -> Target:
        try:
            target = parse_url(url)
        except UrlError as error:
            raise _failure(f"node {node!r}: the URL {error}", "HostNotAllowed") from None
        if not self.allow_list.allows_target(target):
            raise _failure(
                f"node {node!r}: '{target.host}:{target.port}' is not on the worker's "
                "HTTP allow-list",
                "HostNotAllowed",
            )
        return target

    async def _checked_addresses(self, node: str, target: Target) -> list[str]:
        try:
            addresses = await self.resolve(target.host, target.port)
        except OSError as error:  # the name may resolve later: retryable
            raise _failure(
                f"node {node!r}: cannot resolve {target.host}: {error}", "HttpError", retryable=True
            ) from None
        if not addresses:
            raise _failure(f"node {node!r}: {target.host} has no address", "HttpError")
        for address in addresses:
            refusal = self.addresses.refusal(address)
            if refusal is not None:
                raise _failure(
                    f"node {node!r}: {target.host} resolves to {address}, and {refusal}",
                    "AddressBlocked",
                )
        return addresses

    async def _send(
        self,
        node: str,
        method: str,
        url: str,
        target: Target,
        *,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: bytes | None,
        timeout: float,  # noqa: ASYNC109 (passed to aiohttp's own ClientTimeout)
    ) -> tuple[int, dict[str, str], Any]:
        import aiohttp  # only workers running graph activities need it

        addresses = await self._checked_addresses(node, target)
        connector = aiohttp.TCPConnector(
            resolver=_pinned_resolver(target.host, addresses), use_dns_cache=False
        )
        try:
            async with (
                aiohttp.ClientSession(
                    connector=connector,
                    trust_env=False,
                    timeout=aiohttp.ClientTimeout(total=timeout),
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
                raw = await _read_capped(node, response, self.max_response_bytes)
                response_headers = {k.lower(): v for k, v in response.headers.items()}
                status = response.status
                text = raw.decode(response.charset or "utf-8", errors="replace")
        except (aiohttp.ClientError, TimeoutError) as error:
            # retryable: the network or the service may recover
            raise ApplicationError(
                f"{method} {url} failed: {error or type(error).__name__}", type="HttpError"
            ) from error
        except LookupError:  # an unknown charset
            text = raw.decode("utf-8", errors="replace")
        payload: Any = text
        if "json" in response_headers.get("content-type", ""):
            try:
                payload = json.loads(text) if text else None
            except (ValueError, RecursionError):
                payload = text
        return status, response_headers, payload


def _pinned_resolver(host: str, addresses: list[str]) -> Any:
    """A resolver that answers only for the checked host, with the checked addresses, so
    the connection goes where the policy looked (no second lookup that could differ)."""
    from aiohttp.abc import AbstractResolver, ResolveResult

    class PinnedResolver(AbstractResolver):
        async def resolve(
            self, name: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            if name.lower().rstrip(".").strip("[]") != host:
                raise OSError(f"{name} was not checked")
            return [
                ResolveResult(
                    hostname=name,
                    host=address,
                    port=port,
                    family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
                for address in addresses
            ]

        async def close(self) -> None:
            return None

    return PinnedResolver()


async def _read_capped(node: str, response: Any, cap: int) -> bytes:
    declared = response.content_length
    if declared is not None and declared > cap:
        raise _failure(
            f"node {node!r}: the response has {declared} bytes, more than the limit of {cap}",
            "ResponseTooLarge",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        size += len(chunk)
        if size > cap:
            raise _failure(
                f"node {node!r}: the response is larger than the limit of {cap} bytes",
                "ResponseTooLarge",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _check_headers(node: str, headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem is not None:
            raise _failure(f"node {node!r}: {problem}", "HeaderNotAllowed")


def _fitted(node: str, result: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    try:
        fitted: dict[str, Any] = fit_result(result, max_bytes)
    except LimitError as error:
        raise _failure(f"node {node!r}: the response {error}", "ResponseTooLarge") from None
    return fitted


def _check_status(node: str, method: str, url: str, status: int, expect: list[int]) -> None:
    ok = status in expect if expect else 200 <= status < 400
    if ok:
        return
    message = f"node {node!r}: {method} {url} returned HTTP {status}"
    if status in _RETRYABLE_STATUS:
        raise ApplicationError(message, type="HttpStatus")
    raise ApplicationError(message, type="HttpStatus", non_retryable=True)
