"""The Docker engine of the test bed, and the guard that keeps KIND traffic on this machine.

`ensure_docker_engine()` uses an engine that already answers `docker info`; otherwise it
starts Debian's dockerd (data root /var/lib/docker, so built images survive runs) and
records it in <cache>/docker/dockerd.json, so that only the engine this test bed started
is ever stopped. On hosts whose capability bounding set lacks CAP_SYS_RESOURCE, that
dockerd runs every container through oci_runtime_wrapper.py; no other engine is touched.

The egress guard: the docker network `kind` (created here with a fixed subnet and bridge
name before KIND can create its own) may not send anything out of its bridge — a rule in
DOCKER-USER rejects every forwarded packet that enters from the KIND bridge and leaves by
any other interface. Addresses a pod reaches before kube-proxy has programmed its rules
(the service range, other pod ranges) would otherwise follow the host's default route out.
Builds use docker's default bridge and keep their access to the package mirrors.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .process import TestbedError, require_binary, tail

KIND_NETWORK = "kind"
KIND_BRIDGE = "br-kind"
KIND_SUBNET = "172.30.0.0/16"
KIND_GATEWAY = "172.30.0.1"
_CAP_SYS_RESOURCE_BIT = 24
_WRAPPER_RUNTIME = "queuefleet-runc"
_WRAPPER_SOURCE = Path(__file__).with_name("oci_runtime_wrapper.py")
_START_TIMEOUT = 60.0
_INSTALL_HINT = "install Debian's docker.io (`make system-packages`)"


def cache_dir() -> Path:
    root = os.environ.get("QUEUEFLEET_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "queuefleet"
    )
    return Path(root) / "docker"


def _state_path() -> Path:
    return cache_dir() / "dockerd.json"


def _run(*argv: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise TestbedError(f"{' '.join(argv)} failed: {(result.stderr or result.stdout).strip()}")
    return result


def engine_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return (
            _run(
                docker, "info", "--format", "{{.ServerVersion}}", timeout=20, check=False
            ).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        return False


def needs_capability_wrapper(status: str | None = None) -> bool:
    """True when PID 1's bounding set lacks CAP_SYS_RESOURCE (privileged containers fail)."""
    if status is None:
        status = Path("/proc/1/status").read_text()
    for line in status.splitlines():
        if line.startswith("CapBnd:"):
            return not (int(line.split()[1], 16) >> _CAP_SYS_RESOURCE_BIT) & 1
    return False


def daemon_config(wrapper: Path | None) -> dict[str, object]:
    """The test bed's dockerd configuration: the wrapper as default runtime where needed."""
    config: dict[str, object] = {}
    if wrapper is not None:
        config["runtimes"] = {_WRAPPER_RUNTIME: {"path": str(wrapper)}}
        config["default-runtime"] = _WRAPPER_RUNTIME
    return config


def _install_wrapper(directory: Path) -> Path:
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    target = directory / "oci-runtime-wrapper"
    target.write_text(f"#!{python}\n" + _WRAPPER_SOURCE.read_text())
    target.chmod(0o755)
    return target


@dataclass(frozen=True)
class DockerEngine:
    """An engine that answers; `started` is True when this test bed started its dockerd."""

    started: bool
    pid: int | None = None
    guard_installed: bool = False

    def stop(self) -> None:
        """Remove what this engine handle added: the guard, and dockerd if we started it."""
        if self.guard_installed:
            remove_egress_guard()
        if self.started and self.pid is not None:
            stop_started_engine(self.pid)


def start_dockerd() -> int:
    """Start dockerd detached (it outlives this process until stop); returns its pid."""
    dockerd = require_binary("dockerd", _INSTALL_HINT)
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = _install_wrapper(directory) if needs_capability_wrapper() else None
    config_path = directory / "daemon.json"
    config_path.write_text(json.dumps(daemon_config(wrapper), indent=2))
    log_path = directory / "dockerd.log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            [dockerd, "--config-file", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _state_path().write_text(json.dumps({"pid": popen.pid}))
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            _state_path().unlink(missing_ok=True)
            raise TestbedError(
                f"dockerd exited with {popen.returncode}; log {log_path}:\n{tail(log_path)}"
            )
        if engine_answers():
            return popen.pid
        time.sleep(0.5)
    stop_started_engine(popen.pid)
    raise TestbedError(
        f"dockerd: no answer after {_START_TIMEOUT:.0f}s; log {log_path}:\n{tail(log_path)}"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_started_engine(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM the dockerd we started (it stops its containers), SIGKILL after the timeout."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 15)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    _state_path().unlink(missing_ok=True)


def started_engine_pid() -> int | None:
    """The pid of a dockerd this test bed started earlier and that still runs."""
    try:
        pid = int(json.loads(_state_path().read_text())["pid"])
    except (FileNotFoundError, KeyError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def ensure_kind_network() -> None:
    """Create the `kind` network with our subnet and bridge name unless it exists."""
    docker = require_binary("docker", _INSTALL_HINT)
    inspect = _run(docker, "network", "inspect", KIND_NETWORK, check=False)
    if inspect.returncode == 0:
        network = json.loads(inspect.stdout)[0]
        subnets = [c.get("Subnet") for c in network.get("IPAM", {}).get("Config") or []]
        bridge = network.get("Options", {}).get("com.docker.network.bridge.name")
        if KIND_SUBNET not in subnets or bridge != KIND_BRIDGE:
            raise TestbedError(
                f"docker network {KIND_NETWORK} exists with subnets {subnets} and bridge "
                f"{bridge}; the egress guard needs {KIND_SUBNET} on {KIND_BRIDGE}: delete it "
                f"(`docker network rm {KIND_NETWORK}` once no KIND cluster runs)"
            )
        return
    _run(
        docker, "network", "create", "--driver", "bridge",
        "--subnet", KIND_SUBNET, "--gateway", KIND_GATEWAY,
        "--opt", f"com.docker.network.bridge.name={KIND_BRIDGE}",
        "--opt", "com.docker.network.bridge.enable_ip_masquerade=true",
        KIND_NETWORK,
    )  # fmt: skip


def egress_guard_rule() -> list[str]:
    """The DOCKER-USER rule: nothing forwarded from the KIND bridge leaves by another link."""
    return [
        "-i", KIND_BRIDGE, "!", "-o", KIND_BRIDGE,
        "-j", "REJECT", "--reject-with", "icmp-admin-prohibited",
    ]  # fmt: skip


def egress_guard_installed() -> bool:
    iptables = require_binary("iptables", "install Debian's iptables")
    return _run(iptables, "-C", "DOCKER-USER", *egress_guard_rule(), check=False).returncode == 0


def install_egress_guard() -> bool:
    """Create the KIND network and put the guard first in DOCKER-USER; True if we added it."""
    ensure_kind_network()
    if egress_guard_installed():
        return False
    iptables = require_binary("iptables", "install Debian's iptables")
    _run(iptables, "-I", "DOCKER-USER", "1", *egress_guard_rule())
    return True


def remove_egress_guard() -> None:
    iptables = require_binary("iptables", "install Debian's iptables")
    while egress_guard_installed():
        _run(iptables, "-D", "DOCKER-USER", *egress_guard_rule())


@dataclass(frozen=True)
class GuardCount:
    """Forwarded packets from the KIND bridge to one address: before the guard, and past it."""

    reached: int
    passed: int


def _probe_rule(destination: str, tag: str) -> list[str]:
    # No target: the rule only counts, and the packet goes on to the next rule.
    return ["-i", KIND_BRIDGE, "-d", destination, "-m", "comment", "--comment", tag]


def _guard_line(iptables: str) -> int:
    """The guard's position in DOCKER-USER, counted from 1 as `iptables -I` counts."""
    listing = _run(iptables, "-S", "DOCKER-USER").stdout.splitlines()
    rules = [line.removeprefix("-A DOCKER-USER ") for line in listing if line.startswith("-A ")]
    guard = " ".join(egress_guard_rule())
    if guard not in rules:
        raise TestbedError(f"the egress guard ({guard}) is not in DOCKER-USER")
    return rules.index(guard) + 1


def _packets(iptables: str, tag: str) -> int:
    for line in _run(iptables, "-L", "DOCKER-USER", "-n", "-v", "-x").stdout.splitlines():
        if f"/* {tag} */" in line:
            return int(line.split()[0])
    raise TestbedError(f"the counting rule {tag} left DOCKER-USER")


@contextlib.contextmanager
def counting_guarded_packets(destination: str) -> Iterator[Callable[[], GuardCount]]:
    """Count what the KIND bridge forwards to `destination`, around the egress guard.

    Two rules without a target sit just before and just after the guard. The ICMP answer
    of the guard is no proof: the kernel rate-limits ICMP errors per peer (icmp_ratelimit),
    so a node whose other traffic the guard already refuses may see a silent drop instead.
    """
    iptables = require_binary("iptables", "install Debian's iptables")
    reached, passed = (
        f"queuefleet-probe-reached-{destination}",
        f"queuefleet-probe-passed-{destination}",
    )
    _run(
        iptables,
        "-I",
        "DOCKER-USER",
        str(_guard_line(iptables)),
        *_probe_rule(destination, reached),
    )
    try:
        _run(
            iptables, "-I", "DOCKER-USER", str(_guard_line(iptables) + 1),
            *_probe_rule(destination, passed),
        )  # fmt: skip
        try:
            yield lambda: GuardCount(_packets(iptables, reached), _packets(iptables, passed))
        finally:
            _run(iptables, "-D", "DOCKER-USER", *_probe_rule(destination, passed), check=False)
    finally:
        _run(iptables, "-D", "DOCKER-USER", *_probe_rule(destination, reached), check=False)


def ensure_docker_engine(*, guard: bool = True) -> DockerEngine:
    """An engine that answers, started here when none does, with the egress guard in place."""
    started = False
    pid = started_engine_pid()
    if not engine_answers():
        if pid is not None:
            raise TestbedError(f"the test bed's dockerd (pid {pid}) runs but does not answer")
        pid = start_dockerd()
        started = True
    guard_installed = install_egress_guard() if guard else False
    return DockerEngine(
        started=started, pid=pid if started else None, guard_installed=guard_installed
    )


def engine_up() -> str:
    """`python -m testbed docker-up`: start (or reuse) the engine and leave it running."""
    engine = ensure_docker_engine()
    owner = "started" if engine.started else "already running"
    return f"docker engine {owner}; egress guard on {KIND_BRIDGE} ({KIND_SUBNET}) in DOCKER-USER"


def engine_down() -> str:
    """Remove the guard; stop dockerd only if this test bed started it."""
    if shutil.which("iptables") and engine_answers():
        remove_egress_guard()
    pid = started_engine_pid()
    if pid is None:
        return "egress guard removed; no dockerd started by the test bed is running"
    stop_started_engine(pid)
    return f"egress guard removed; stopped dockerd (pid {pid})"
