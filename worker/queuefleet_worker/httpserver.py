"""A minimal HTTP/1.1 server on the worker's event loop, for probes and the metrics scrape.

It serves GET (and HEAD) for a fixed set of paths and closes each connection after one
response. Running on the same loop as the worker is the point: if the loop is stuck, the
liveness probe stops answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

__all__ = ["Response", "Route", "serve_http"]

logger = logging.getLogger(__name__)

_REQUEST_TIMEOUT_SECONDS = 5.0
_MAX_HEADER_BYTES = 16 * 1024
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


Route = Callable[[], Awaitable[Response]]


async def serve_http(host: str, port: int, routes: Mapping[str, Route]) -> asyncio.Server:
    """Start listening; the caller closes the returned server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
                response, send_body = await _respond(head, routes)
                writer.write(_encode(response, send_body=send_body))
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a client that hangs up or sends garbage gets nothing back
        except Exception:
            logger.exception("HTTP handler failed")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port, limit=_MAX_HEADER_BYTES)


async def _respond(head: bytes, routes: Mapping[str, Route]) -> tuple[Response, bool]:
    method, _, rest = head.decode("latin-1").partition(" ")
    path = rest.partition(" ")[0].partition("?")[0]
    route = routes.get(path)
    if route is None:
        return Response(404, b"not found\n"), True
    if method not in ("GET", "HEAD"):
        return Response(405, b"method not allowed\n"), True
    return await route(), method == "GET"


def _encode(response: Response, *, send_body: bool) -> bytes:
    reason = _REASONS.get(response.status, "")
    head = (
        f"HTTP/1.1 {response.status} {reason}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + (response.body if send_body else b"")
