"""Start, wait for and stop the testbed's processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class TestbedError(RuntimeError):
    """A component could not be found, started or reached."""

    __test__ = False  # not a test class, despite the name


def artifacts_dir() -> Path:
    """Where components write logs and data; kept after the run so failures can be read."""
    root = Path(os.environ.get("QUEUEFLEET_ARTIFACTS", "test-artifacts")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binary(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise TestbedError(f"{name} not found on PATH; {hint}")
    return path


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class Process:
    """A started process, its own process group, and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    stopped: bool = field(default=False)

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Process:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,  # its own group, so stop() reaches its children too
            )
        return cls(name=name, popen=popen, log_path=log_path)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the group, then SIGKILL what is left after the timeout."""
        if self.stopped:
            return self.popen.returncode
        self.stopped = True
        if self.alive():
            _signal_group(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        return self.popen.returncode

    def wait_until(self, ready: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll until `ready()` is true; fail with the log's tail on exit or timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise TestbedError(
                    f"{self.name} exited with {self.popen.returncode} before {what}; "
                    f"log {self.log_path}:\n{tail(self.log_path)}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise TestbedError(
            f"{self.name}: no {what} after {timeout:.0f}s; "
            f"log {self.log_path}:\n{tail(self.log_path)}"
        )


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= int(response.status) < 300
    except OSError:
        return False
