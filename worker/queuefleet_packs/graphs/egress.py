"""Where `http` and `webhook` nodes may connect, and which headers they may send.

A URL is reduced to (scheme, ASCII host, port) once, by `parse_url`, and every check uses
that: the validator for literal URLs, the activity for rendered ones. Host names are
IDNA-encoded, so a fullwidth or otherwise look-alike spelling is compared as the name the
resolver would be asked for. The activity resolves the name itself, checks every address
against `AddressPolicy` (link-local and cloud metadata addresses are blocked by default)
and connects only to the addresses it checked.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_BLOCKED_NETWORKS",
    "MAX_HTTP_TIMEOUT_SECONDS",
    "AddressPolicy",
    "Target",
    "UrlError",
    "header_problem",
    "parse_url",
]

MAX_HTTP_TIMEOUT_SECONDS: Final = 300.0
# Link-local (where every cloud serves instance metadata and credentials), the AWS IPv6
# metadata address, Alibaba Cloud's metadata address and "this network" (0.0.0.0 connects
# to the local host on Linux).
DEFAULT_BLOCKED_NETWORKS: Final = (
    "169.254.0.0/16",
    "fe80::/10",
    "fd00:ec2::254/128",
    "100.100.100.200/32",
    "0.0.0.0/8",
)
# Hop-by-hop headers (RFC 9110 section 7.6.1), and headers that choose where a request is
# routed or who it claims to come from: a graph must not reach another virtual host behind
# an allowed address or speak for a proxy. The signature header belongs to the worker.
_FORBIDDEN_HEADERS: Final = frozenset(
    {
        "host", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
        "content-length", "expect", "forwarded", "via", "x-real-ip", "x-original-url",
        "x-rewrite-url", "x-http-method-override", "x-queuefleet-signature",
    }
)  # fmt: skip
_FORBIDDEN_PREFIXES: Final = ("proxy-", "x-forwarded-")
_TOKEN: Final = re.compile(r"\A[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}\Z")
_MAX_HEADER_VALUE: Final = 8192


class UrlError(ValueError):
    """A URL that no node may call; the message completes "the URL ..."."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower-case ASCII (IDNA), IPv6 without brackets
    port: int

    @property
    def default_port(self) -> bool:
        return self.port == (443 if self.scheme == "https" else 80)


@lru_cache(maxsize=4096)  # pure; a graph's literal URLs are parsed on every validation
def parse_url(url: str) -> Target:
    if not isinstance(url, str) or not url:
        raise UrlError("is empty")
    try:
        parts = urlsplit(url)
        port = parts.port
        hostname = parts.hostname
    except ValueError as error:  # "Invalid IPv6 URL", a port out of range, NFKC tricks
        raise UrlError(f"is not a valid URL ({error}): {_short(url)}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlError(f"must start with http:// or https://, got {_short(url)}")
    if "@" in parts.netloc:
        raise UrlError(f"must not carry user info ('@'): {_short(url)}")
    if not hostname:
        raise UrlError(f"names no host: {_short(url)}")
    return Target(scheme, _ascii_host(hostname, url), port or (443 if scheme == "https" else 80))


def _ascii_host(hostname: str, url: str) -> str:
    host = hostname.lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as error:
            raise UrlError(
                f"has a host that is not a valid name ({error}): {_short(url)}"
            ) from None
    if not re.fullmatch(r"[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*", host) or len(host) > 253:
        raise UrlError(f"has a host that is not a valid name ({host[:80]!r}): {_short(url)}")
    return host


def _short(url: str) -> str:
    return repr(url if len(url) <= 120 else url[:120] + "...")


def header_problem(name: str, value: object) -> str | None:
    """Why a header may not be sent, or None."""
    if not isinstance(name, str) or not _TOKEN.match(name):
        return f"header name {str(name)[:60]!r} is not a valid HTTP header name"
    lowered = name.lower()
    if lowered in _FORBIDDEN_HEADERS or lowered.startswith(_FORBIDDEN_PREFIXES):
        return f"header {name!r} is set by the worker or a proxy, a graph may not send it"
    if not isinstance(value, str):
        return f"header {name!r} must be text"
    if len(value) > _MAX_HEADER_VALUE or any(c in value for c in "\r\n\0"):
        return f"header {name!r}: the value is longer than {_MAX_HEADER_VALUE} or has line breaks"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Addresses no node may connect to (whatever name leads there), less explicit
    exemptions configured on the worker."""

    blocked: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, exempt: str = "") -> AddressPolicy:
        """The default block list, less the comma-separated networks in `exempt`."""
        try:
            allowed = tuple(
                ipaddress.ip_network(entry.strip(), strict=False)
                for entry in exempt.split(",")
                if entry.strip()
            )
        except ValueError as error:
            raise ValueError(f"not a network address: {error}") from None
        return cls(tuple(ipaddress.ip_network(n) for n in DEFAULT_BLOCKED_NETWORKS), allowed)

    def refusal(self, address: str) -> str | None:
        """Why `address` may not be connected to, or None."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.exempt):
            return None
        for network in self.blocked:
            if ip in network:
                return (
                    f"{network} is blocked on this worker (link-local and metadata "
                    "addresses; QUEUEFLEET_GRAPHS_HTTP_ALLOW_NETWORKS exempts networks)"
                )
        return None
