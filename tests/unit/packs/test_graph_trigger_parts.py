"""The HTTP trigger's pure parts (signature, event shape, listen addresses) and the
`graph triggers --listen` settings it refuses before connecting to anything."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from queuefleet_cli.main import main
from queuefleet_packs.graphs.http_trigger import TriggerSecret, _event_problem
from queuefleet_packs.graphs.listener import ListenError, parse_listen

KEY = "k" * 32
NOW = 1_800_000_000


def signature(body: bytes, *, t: int = NOW, key: str = KEY) -> str:
    mac = hmac.new(key.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "X-Queuefleet-Signature header of the form"),
        ("v1=abc", "X-Queuefleet-Signature header of the form"),
        (signature(b"{}", key="q" * 32), "the signature does not match"),
        (signature(b'{"x": 1}'), "the signature does not match"),  # another body
        (signature(b"{}", t=NOW - 301), "more than 300s off"),
        (signature(b"{}", t=NOW + 301), "more than 300s off"),
    ],
)
def test_a_signature_is_checked_over_the_raw_body_and_time(header: str | None, reason: str) -> None:
    refused = TriggerSecret(KEY.encode()).check(header, b"{}", now=NOW)
    assert refused is not None
    assert reason in refused
    assert KEY not in refused


def test_a_good_signature_passes_and_the_secret_is_not_in_repr() -> None:
    secret = TriggerSecret(KEY.encode())
    assert secret.check(signature(b"{}", t=NOW - 299), b"{}", now=NOW) is None
    assert KEY not in repr(secret)


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"event_id": "e-1", "payload": {"a": 1}}, None),
        ({"event_id": "crm:42@eu.1"}, None),
        ([1], "the body must be an object"),
        ({"payload": {}}, "'event_id' must be a string"),
        ({"event_id": 7}, "'event_id' must be a string"),
        ({"event_id": "a/b"}, "'event_id' must be a string"),
        ({"event_id": "-a"}, "'event_id' must be a string"),
        ({"event_id": "e" * 201}, "'event_id' must be a string"),
        ({"event_id": "e", "extra": 1}, "unknown field 'extra'"),
    ],
)
def test_the_event_shape_is_checked_naming_the_field(event: object, problem: str | None) -> None:
    found = _event_problem(event)
    assert found == problem if problem is None else problem in (found or "")


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8089", "X") == ("127.0.0.1", 8089)
    assert parse_listen("[::1]:0", "X") == ("::1", 0)
    for bad in ("8089", ":8089", "host:", "host:http", "host:70000"):
        with pytest.raises(ListenError, match=f"X must be host:port, got '{bad}'"):
            parse_listen(bad, "X")


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--listen", "8089"], {}, "--listen must be host:port, got '8089'"),
        ([], {"QUEUEFLEET_GRAPHS_TRIGGER_LISTEN": "nowhere"},
         "QUEUEFLEET_GRAPHS_TRIGGER_LISTEN must be host:port, got 'nowhere'"),
        (["--listen", "127.0.0.1:0"], {},
         "taking events over HTTP needs QUEUEFLEET_GRAPHS_TRIGGER_SECRET (or "
         "QUEUEFLEET_GRAPHS_TRIGGER_SECRET_FILE) with at least 16 characters"),
        (["--listen", "127.0.0.1:0"], {"QUEUEFLEET_GRAPHS_TRIGGER_SECRET_FILE": "/nonexistent/s"},
         "QUEUEFLEET_GRAPHS_TRIGGER_SECRET_FILE: cannot read '/nonexistent/s': No such file"),
    ],
)  # fmt: skip
def test_trigger_settings_are_refused_before_connecting(
    argv: list[str], environ: dict[str, str], message: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name in ("SECRET", "SECRET_FILE", "LISTEN"):
        monkeypatch.delenv(f"QUEUEFLEET_GRAPHS_TRIGGER_{name}", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    # nothing listens on port 9 and no database is reached: the check comes first
    code = main(["graph", "triggers", "--database", "postgresql://127.0.0.1:9/none",
                 "--address", "127.0.0.1:9", *argv])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"queuefleet graph: error: {message}")
    assert len(err.splitlines()) == 1
