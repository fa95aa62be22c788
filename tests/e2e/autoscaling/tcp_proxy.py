"""A loopback TCP forwarder in front of Temporal that a test can take down and bring back.

With `tls` set it also terminates TLS (ALPN h2; with `client_ca`, a client certificate is
required), so KEDA's Temporal scaler can be checked against a TLS endpoint while the dev
server itself speaks plaintext. Each handshake records the client certificate's subject.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from testbed.process import free_port

__all__ = ["ServerTLS", "TcpProxy"]


@dataclass(frozen=True, kw_only=True)
class ServerTLS:
    cert: Path
    key: Path
    client_ca: Path | None = None  # set: mutual TLS


@dataclass
class TcpProxy:
    upstream: tuple[str, int]
    tls: ServerTLS | None = None
    port: int = field(default_factory=free_port)
    client_subjects: list[str] = field(default_factory=list)
    _listener: socket.socket | None = None
    _connections: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Stop listening and cut every open connection: the upstream becomes unreachable."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.tls.cert, self.tls.key)
        if self.tls.client_ca is not None:
            context.load_verify_locations(self.tls.client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        context.set_alpn_protocols(["h2"])
        return context

    def _accept(self, listener: socket.socket) -> None:
        context = self._context()
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # taken down
            threading.Thread(target=self._serve, args=(client, context), daemon=True).start()

    def _serve(self, client: socket.socket, context: ssl.SSLContext | None) -> None:
        try:
            if context is not None:
                client = context.wrap_socket(client, server_side=True)
                peer = client.getpeercert() or {}
                subject = dict(pair[0] for pair in peer.get("subject", ()))
                self.client_subjects.append(str(subject.get("commonName", "")))
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        with self._lock:
            self._connections += [client, upstream]
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
