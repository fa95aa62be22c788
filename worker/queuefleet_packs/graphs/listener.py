"""One small aiohttp application on `host:port`, started and stopped by its owner.

The callback endpoint (on the worker) and the HTTP trigger (`queuefleet graph triggers
--listen`) both use it: binding errors name the setting the address came from, port 0
reports the port actually bound, and no access log is written (callback URLs carry
tokens).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["ListenError", "Listener", "parse_listen"]


class ListenError(RuntimeError):
    """The address is malformed or cannot be bound; the message names where it came from."""


def parse_listen(value: str, setting: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:8080`) into its parts; ListenError naming `setting`."""
    host, _, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ListenError(f"{setting} must be host:port, got {value!r}")
    return host, int(port)


class Listener:
    def __init__(self, build: Callable[[], Any], *, host: str, port: int, setting: str) -> None:
        self.build = build  # returns the aiohttp web.Application to serve
        self.host, self.port, self.setting = host, port, setting
        self._runner: Any = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        from aiohttp import web

        runner = web.AppRunner(self.build(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            # asyncio rewrites strerror into a sentence quoting the address; say it once
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise ListenError(
                f"cannot listen on {self.host}:{self.port} ({self.setting}): {reason}"
            ) from error
        self._runner = runner
        if self.port == 0:  # a free port was asked for: report the one bound
            server = getattr(site, "_server", None)
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1]) if sockets else 0

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


class ListenerService:
    """A registry Service that is one HTTP endpoint; a subclass sets `listener` and `name`."""

    listener: Listener

    @property
    def port(self) -> int:
        return self.listener.port

    @property
    def url(self) -> str:
        return self.listener.url

    async def start(self) -> None:
        await self.listener.start()

    async def stop(self) -> None:
        await self.listener.stop()
