"""The HTTP trigger: `POST /triggers/<entity type>` starts the graph bound to that type.

The body is `{"event_id": "...", "payload": ...}`; the request carries
`X-Queuefleet-Signature: t=<unix seconds>,v1=<hex>`, HMAC-SHA256 with the trigger secret
over `<t>.` + the raw body (the scheme `webhook` nodes sign with, so one graph's webhook
can trigger another). The event becomes a row of `entity_events`, exactly like an event
inserted in the database, and is started at once with the workflow id `event-<event id>`:

- 202 `started`: a new event; its run was started.
- 200 `duplicate`: the same event (id, type and payload) again; nothing new runs, and an
  event recorded earlier but not started yet (Temporal was down) is started now.
- 409: the id is known with another type or payload; nothing changes.
- 401: missing or wrong signature, or `t` more than 5 minutes off; nothing is stored.
- 404: no graph is bound to the entity type; nothing is stored, so the sender may retry.
- 400: the body is not as described; the message names the field.
- 503: the store or Temporal did not answer; a recorded event is started by the next
  replay of the POST or by `graph triggers` catching up.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Final

from temporalio.client import Client

from .listener import Listener, ListenerService
from .store import EventConflictError, EventTrigger, GraphStore, is_bound, record_event

__all__ = [
    "ENV_TRIGGER_LISTEN",
    "ENV_TRIGGER_SECRET",
    "SIGNATURE_HEADER",
    "TRIGGER_PATH",
    "HttpTrigger",
    "TriggerSecret",
]

logger = logging.getLogger("queuefleet.graphs.triggers")

ENV_TRIGGER_SECRET: Final = "QUEUEFLEET_GRAPHS_TRIGGER_SECRET"  # noqa: S105 (a name)
ENV_TRIGGER_LISTEN: Final = "QUEUEFLEET_GRAPHS_TRIGGER_LISTEN"
SIGNATURE_HEADER: Final = "X-Queuefleet-Signature"
TRIGGER_PATH: Final = "/triggers/"
MAX_CLOCK_SKEW_SECONDS: Final = 300
_MAX_EVENT_BYTES: Final = 1024 * 1024
# An event id becomes part of a workflow id; an entity type is a name, not free text.
_EVENT_ID: Final = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}\Z")
_ENTITY_TYPE: Final = re.compile(r"\A[A-Za-z][A-Za-z0-9._-]{0,99}\Z")
_SIGNATURE: Final = re.compile(r"\At=(\d{1,12}),v1=([0-9a-f]{64})\Z")


@dataclass(frozen=True)
class TriggerSecret:
    value: bytes = field(repr=False)

    def check(self, header: str | None, body: bytes, *, now: float) -> str | None:
        """None when the signature holds; otherwise why not (never echoing the secret)."""
        found = _SIGNATURE.match((header or "").strip())
        if found is None:
            return f"a {SIGNATURE_HEADER} header of the form t=<unix seconds>,v1=<hex> is required"
        timestamp, given = int(found[1]), found[2]
        expected = hmac.new(self.value, f"{timestamp}.".encode() + body, hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), given):
            return "the signature does not match"
        if abs(now - timestamp) > MAX_CLOCK_SKEW_SECONDS:
            return f"the signature's timestamp is more than {MAX_CLOCK_SKEW_SECONDS}s off"
        return None


class HttpTrigger(ListenerService):
    """The endpoint; start/stop like a registry Service. Safe to run beside other ones."""

    def __init__(
        self, store: GraphStore, client: Client, secret: TriggerSecret, *, host: str, port: int,
        setting: str = "--listen",
    ) -> None:  # fmt: skip
        self.store = store
        self.secret = secret
        self.trigger = EventTrigger(store, client)
        self.listener = Listener(self._app, host=host, port=port, setting=setting)

    @property
    def name(self) -> str:
        return "the graphs HTTP trigger"

    def _app(self) -> Any:
        from aiohttp import web

        app = web.Application(client_max_size=_MAX_EVENT_BYTES)
        app.router.add_post(TRIGGER_PATH + "{entity_type}", self._handle)
        return app

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        def answer(code: int, **body: Any) -> Any:
            return web.json_response(body, status=code)

        raw = await request.read()
        refused = self.secret.check(request.headers.get(SIGNATURE_HEADER), raw, now=time.time())
        if refused is not None:
            return answer(401, error=refused)
        entity_type = request.match_info["entity_type"]
        if not _ENTITY_TYPE.match(entity_type):
            return answer(400, error=f"entity type {entity_type[:100]!r} is not a valid name")
        try:
            event = json.loads(raw)
        except ValueError:
            return answer(400, error="the body must be JSON")
        problem = _event_problem(event)
        if problem is not None:
            return answer(400, error=problem)
        event_id, payload = event["event_id"], event.get("payload", {})
        try:
            if not await is_bound(self.store, entity_type):
                return answer(404, error=f"no graph is bound to entity type {entity_type!r}")
            recorded = await record_event(self.store, event_id, entity_type, payload)
            workflow_id = await self.trigger.handle(event_id)
        except EventConflictError as error:
            return answer(409, error=str(error), event_id=event_id)
        except Exception as error:  # the store or Temporal is down: the event is kept
            logger.warning("event %s not started yet: %s", event_id, _first_line(error))
            return answer(503, error=f"not started yet: {_first_line(error)}", event_id=event_id)
        status = "started" if recorded.new else "duplicate"
        logger.info("event %s (%s): %s as %s", event_id, entity_type, status, workflow_id)
        return answer(
            202 if recorded.new else 200, status=status, event_id=event_id,
            workflow_id=workflow_id,
        )  # fmt: skip


def _event_problem(event: Any) -> str | None:
    if not isinstance(event, dict):
        return 'the body must be an object: {"event_id": "...", "payload": ...}'
    unknown = sorted(set(event) - {"event_id", "payload"})
    if unknown:
        return f"unknown field {unknown[0]!r} (expected event_id and payload)"
    event_id = event.get("event_id")
    if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
        return (
            "'event_id' must be a string of 1 to 200 letters, digits and ._:@- "
            "(starting with a letter or digit)"
        )
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
