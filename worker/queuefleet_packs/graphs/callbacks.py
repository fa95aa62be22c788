"""Asynchronous completion: the `callback` node and the worker's callback endpoint.

A `callback` node's activity hands an external system a completion token (POSTing the
node's payload plus `callback_url` and `token` to an allow-listed URL) and returns without
a result (Temporal async activity completion). The external system later POSTs
`{"result": ...}` or `{"error": "..."}` to the callback URL; `CallbackReceiver` checks the
token and completes (or fails) exactly that activity through the Temporal client.

The token is the activity's Temporal task token with an HMAC-SHA256 over it (key:
`QUEUEFLEET_GRAPHS_CALLBACK_SECRET`), so it is bound to one activity attempt and cannot
be forged or moved to another (a forged one is answered 401). A callback repeated after
completion changes nothing: 200 "already completed" from the worker that completed it,
409 from any other. When no callback arrives within the node's `timeout_seconds`, the
activity times out and the node fails with its name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from .activities import GraphActivities, HttpRequest
from .listener import Listener, ListenError, ListenerService, parse_listen

__all__ = [
    "CALLBACK_ACTIVITY",
    "ENV_CALLBACK_LISTEN",
    "ENV_CALLBACK_SECRET",
    "ENV_CALLBACK_URL",
    "CallbackActivities",
    "CallbackReceiver",
    "CallbackRequest",
    "CallbackSettingsError",
    "CallbackTokens",
    "Callbacks",
    "InvalidTokenError",
    "callback_request",
    "callbacks_from",
]

CALLBACK_ACTIVITY: Final = "graphs.await_callback"
ENV_CALLBACK_SECRET: Final = "QUEUEFLEET_GRAPHS_CALLBACK_SECRET"  # noqa: S105 (a name)
ENV_CALLBACK_URL: Final = "QUEUEFLEET_GRAPHS_CALLBACK_URL"  # how external systems reach us
ENV_CALLBACK_LISTEN: Final = "QUEUEFLEET_GRAPHS_CALLBACK_LISTEN"  # host:port to serve on
CALLBACK_PATH: Final = "/callbacks/"
_MAC_CONTEXT: Final = b"queuefleet-callback-v1:"
_MAX_CALLBACK_BYTES: Final = 1024 * 1024
_REMEMBERED_COMPLETIONS: Final = 100_000  # repeats beyond these still change nothing (409)


class InvalidTokenError(ValueError):
    """A callback token is malformed or its HMAC does not match."""


@dataclass(frozen=True)
class CallbackTokens:
    secret: bytes = field(repr=False)

    def issue(self, task_token: bytes) -> str:
        mac = hmac.new(self.secret, _MAC_CONTEXT + task_token, hashlib.sha256).digest()
        return f"{_b64(task_token)}.{_b64(mac)}"

    def verify(self, token: str) -> bytes:
        """The task token the callback is for; InvalidTokenError when forged or damaged."""
        encoded, dot, encoded_mac = token.partition(".")
        try:
            task_token, mac = _unb64(encoded), _unb64(encoded_mac)
        except (binascii.Error, ValueError):
            raise InvalidTokenError("malformed callback token") from None
        expected = hmac.new(self.secret, _MAC_CONTEXT + task_token, hashlib.sha256).digest()
        if not dot or not task_token or not hmac.compare_digest(mac, expected):
            raise InvalidTokenError("callback token signature does not match")
        return task_token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class CallbackRequest:
    node: str
    url: str  # where the hand-off is POSTed (allow-listed like http nodes)
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 3600.0


class CallbackActivities:
    def __init__(
        self, *, tokens: CallbackTokens | None, public_url: str, http: GraphActivities
    ) -> None:
        self.tokens = tokens
        self.public_url = public_url.rstrip("/")
        self.http = http  # the hand-off goes out like an http node: allow-list, address checks

    @activity.defn(name=CALLBACK_ACTIVITY)
    async def await_callback(self, request: CallbackRequest) -> Any:
        if self.tokens is None or not self.public_url:
            raise ApplicationError(
                f"node {request.node!r}: callbacks are not configured on this worker "
                f"(set {ENV_CALLBACK_SECRET} and {ENV_CALLBACK_URL})",
                type="CallbackNotConfigured",
                non_retryable=True,
            )
        token = self.tokens.issue(activity.info().task_token)
        handoff = {
            "node": request.node,
            "payload": request.payload,
            "token": token,
            "callback_url": f"{self.public_url}{CALLBACK_PATH}{token}",
        }
        await self.http.http_request(
            HttpRequest(
                node=request.node, url=request.url, method="POST", headers=request.headers,
                body=handoff, expect_status=[200, 201, 202, 204], timeout_seconds=30.0,
            )
        )  # fmt: skip
        activity.raise_complete_async()


class CallbackReceiver(ListenerService):
    """The worker's callback endpoint: `POST /callbacks/<token>` completes one activity.

    A registry Service: the worker starts it before polling and stops it after the drain.
    Any worker sharing the secret can complete any token (completion goes through
    Temporal), so a callback outlives the replica that handed the token out.
    """

    def __init__(
        self, client: Client, tokens: CallbackTokens, *, host: str, port: int,
        setting: str = ENV_CALLBACK_LISTEN,
    ) -> None:  # fmt: skip
        self.client = client
        self.tokens = tokens
        self.listener = Listener(self._app, host=host, port=port, setting=setting)
        # digests of tokens completed here, oldest first; bounded, as a worker runs for weeks
        self._completed: OrderedDict[bytes, None] = OrderedDict()

    @property
    def name(self) -> str:
        return "the graphs callback endpoint"

    def _app(self) -> Any:
        from aiohttp import web

        app = web.Application(client_max_size=_MAX_CALLBACK_BYTES)
        app.router.add_post(CALLBACK_PATH + "{token}", self._handle)
        return app

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web
        from temporalio.service import RPCError, RPCStatusCode

        token = request.match_info["token"]
        try:
            task_token = self.tokens.verify(token)
        except InvalidTokenError as error:
            return web.json_response({"error": str(error)}, status=401)
        digest = hashlib.sha256(task_token).digest()
        if digest in self._completed:
            return web.json_response({"status": "already completed"})
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return web.json_response({"error": "the body must be JSON"}, status=400)
        if not isinstance(body, dict) or ("result" in body) == ("error" in body):
            return web.json_response(
                {"error": 'send {"result": ...} or {"error": "message"}'}, status=400
            )
        handle = self.client.get_async_activity_handle(task_token=task_token)
        try:
            if "error" in body:
                await handle.fail(
                    ApplicationError(str(body["error"]), type="CallbackError", non_retryable=True)
                )
            else:
                # always an object, so templates read {{node.result...}} whatever was sent
                await handle.complete({"result": body["result"]})
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                # completed through another replica, timed out or cancelled: nothing changes
                return web.json_response(
                    {"error": "the activity is no longer waiting (completed, timed out or "
                     "cancelled)"}, status=409,
                )  # fmt: skip
            # Temporal did not take it: the activity still waits, the sender should retry
            return web.json_response(
                {"error": f"not completed yet, retry: {error.message[:200]}"}, status=503
            )
        self._completed[digest] = None
        if len(self._completed) > _REMEMBERED_COMPLETIONS:
            self._completed.popitem(last=False)
        return web.json_response({"status": "completed"})


def callback_request(
    node: str, spec: Mapping[str, Any], scope: Mapping[str, Any]
) -> CallbackRequest:
    """The activity input for a validated `callback` node, templates rendered (workflow side)."""
    from .expressions import render

    headers = render(spec.get("headers", {}), dict(scope))
    return CallbackRequest(
        node=node,
        url=str(render(spec["url"], dict(scope))),
        payload=render(spec.get("payload"), dict(scope)),
        headers={str(k): str(v) for k, v in headers.items()},
        timeout_seconds=float(spec.get("timeout_seconds", 3600.0)),
    )


class CallbackSettingsError(ValueError):
    """A `QUEUEFLEET_GRAPHS_CALLBACK_*` variable is malformed; the message names it."""


@dataclass(frozen=True)
class Callbacks:
    activities: CallbackActivities
    receiver: CallbackReceiver | None  # the endpoint, when this worker serves one


def callbacks_from(
    environ: Mapping[str, str], client: Client | None, http: GraphActivities
) -> Callbacks:
    """The callback node's activity; with QUEUEFLEET_GRAPHS_CALLBACK_LISTEN also the endpoint.

    The endpoint is not started here: the registrar contributes it as a Service, which the
    worker runtime starts before polling and stops after the drain. Without a client (a
    registrar only being checked) the settings are checked and no endpoint is built.
    """
    secret = environ.get(ENV_CALLBACK_SECRET, "")
    public_url = environ.get(ENV_CALLBACK_URL, "").strip()
    listen = environ.get(ENV_CALLBACK_LISTEN, "").strip()
    if public_url and not public_url.startswith(("http://", "https://")):
        raise CallbackSettingsError(
            f"{ENV_CALLBACK_URL} must be an http(s) URL, got {public_url!r}"
        )
    if (public_url or listen) and len(secret) < 16:
        raise CallbackSettingsError(
            f"{ENV_CALLBACK_SECRET} must hold at least 16 characters when callbacks are on"
        )
    tokens = CallbackTokens(secret.encode()) if secret else None
    receiver = None
    if listen:
        try:
            host, port = parse_listen(listen, ENV_CALLBACK_LISTEN)
        except ListenError as error:
            raise CallbackSettingsError(str(error)) from None
        if client is not None and tokens is not None:
            receiver = CallbackReceiver(client, tokens, host=host, port=port)
    activities = CallbackActivities(tokens=tokens, public_url=public_url, http=http)
    return Callbacks(activities, receiver)
