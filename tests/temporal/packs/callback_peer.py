"""An external system for the callback tests, run as its own process.

It serves `POST /charges` on 127.0.0.1 (the port goes to --port-file), answers 202 at once,
and then, unless --silent, calls the callback URL it was handed: first with a tampered
token, then properly, then the same call again. Each callback's HTTP status is printed as
`callback <kind> <status>` so the test can check what the worker answered. With
--record FILE it appends each hand-off as a JSON line there (and never calls back).

`python -m tests.temporal.packs.callback_peer --post URL BODY` is the other half: one
POST from a process of its own, printing `<status> <response body>`; with
QF_TEST_SIGNING_SECRET set it signs the body as `X-Queuefleet-Signature` (QF_TEST_SIGNING_SKEW
moves its timestamp by that many seconds).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def post(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def print_post(url: str, body: str) -> None:
    headers = {"Content-Type": "application/json"}
    secret = os.environ.get("QF_TEST_SIGNING_SECRET")
    if secret:  # the documented scheme, computed here rather than imported from the worker
        t = int(time.time()) + int(os.environ.get("QF_TEST_SIGNING_SKEW", "0"))
        mac = hmac.new(secret.encode(), f"{t}.".encode() + body.encode(), hashlib.sha256)
        headers["X-Queuefleet-Signature"] = f"t={t},v1={mac.hexdigest()}"
    request = urllib.request.Request(url, data=body.encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            print(response.status, response.read().decode(), flush=True)
    except urllib.error.HTTPError as error:
        print(error.code, error.read().decode(), flush=True)


def call_back(handoff: dict[str, Any]) -> None:
    url = handoff["callback_url"]
    token = handoff["token"]
    tampered = url.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    result = {"status": "paid", "order": handoff["payload"]["order"]}
    for kind, target, body in (
        ("tampered", tampered, {"result": {"status": "stolen"}}),
        ("first", url, {"result": result}),
        ("repeated", url, {"result": {"status": "twice"}}),
    ):
        print(f"callback {kind} {post(target, body)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", type=Path)
    parser.add_argument("--silent", action="store_true", help="take hand-offs, never call back")
    parser.add_argument("--record", type=Path, help="append hand-offs here; never call back")
    parser.add_argument("--post", nargs=2, metavar=("URL", "BODY"), help="one POST, then exit")
    options = parser.parse_args()
    if options.post:
        print_post(*options.post)
        return
    if options.port_file is None:
        parser.error("--port-file is required to serve")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            handoff = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            print(f"handoff {handoff['node']}", flush=True)
            if options.record is not None:
                with options.record.open("a") as record:
                    record.write(json.dumps(handoff) + "\n")
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if not options.silent and options.record is None:
                threading.Thread(target=call_back, args=(handoff,), daemon=True).start()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    options.port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
