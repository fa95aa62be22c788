"""The image's recipe, followed without Docker: a broken Dockerfile fails here, not on a cluster.

The Dockerfile's build stage is read and replayed step by step (ARG, ENV, WORKDIR, COPY,
RUN) into a temporary root: COPY copies only what the Dockerfile names, from the repository
into that root, so a file the image forgets fails the install; RUN runs with the image's
paths mapped into the root, `python`/`python3` being the base interpreter and each ARG at
its default. The final stage's COPY --from, ENV and ENTRYPOINT (the command after its
init) then define how the commands run: from the installed venv alone (the source tree
deleted), read-only, with a clean environment, an unwritable HOME and working directory,
as in the container. One install per session (~40 s).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from testbed.process import Process, free_port, http_ok
from testbed.temporal import TemporalEndpoint

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")  # as .dockerignore does
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # python images'


@dataclass
class Stage:
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, rest)


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their instructions; continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.search(r"\bAS\s+(\S+)", rest, re.IGNORECASE)
            stages.append(Stage(match.group(1) if match else f"stage{len(stages)}"))
        elif stages:
            stages[-1].instructions.append((instruction, rest.strip()))
    return stages


def env_pairs(rest: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(rest))


@dataclass
class ImageRoot:
    """A directory standing in for the image's filesystem root."""

    root: Path

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def map_text(self, text: str, container_paths: list[str]) -> str:
        for container_path in sorted(container_paths, key=len, reverse=True):
            text = re.sub(
                rf"(?<![\w/]){re.escape(container_path)}(?=[/\s]|$)",
                str(self.path(container_path)),
                text,
            )
        return text


@dataclass
class Image:
    root: ImageRoot
    entrypoint: list[str]
    env: dict[str, str]
    home: Path
    tmp: Path

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.entrypoint, *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def build(tmp: Path) -> Image:
    stages = parse_dockerfile(DOCKERFILE.read_text())
    assert len(stages) >= 2, "the Dockerfile must build in one stage and run in another"
    build_stage, final = stages[0], stages[-1]
    image = ImageRoot(tmp / "root")
    image.root.mkdir()
    shim = tmp / "shim"  # `python` in RUN lines is the base image's interpreter
    shim.mkdir()
    for name in ("python", "python3"):
        (shim / name).symlink_to(getattr(sys, "_base_executable", sys.executable))
    env = {"PATH": f"{shim}:{BASE_PATH}", "HOME": str(tmp / "build-home")}
    workdir = "/"
    container_paths: list[str] = []
    log = tmp / "build.log"
    for instruction, rest in build_stage.instructions:
        if instruction == "ENV":
            env.update(env_pairs(rest))
        elif instruction == "ARG":  # a build argument is in RUN's environment, as in Docker
            name, _, default = rest.partition("=")
            env.setdefault(name, default.strip('"'))
        elif instruction == "WORKDIR":
            workdir = rest if rest.startswith("/") else f"{workdir.rstrip('/')}/{rest}"
            container_paths.append(workdir)
            image.path(workdir).mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, dest = [a for a in shlex.split(rest) if not a.startswith("--")]
            target = image.path(dest if dest.startswith("/") else f"{workdir}/{dest}")
            for source in sources:
                origin = ROOT / source
                assert origin.exists(), f"Dockerfile: COPY {source}: not in the repository"
                if origin.is_dir():  # Docker copies a directory's contents into dest
                    shutil.copytree(origin, target, dirs_exist_ok=True, ignore=IGNORED)
                elif dest.endswith("/") or len(sources) > 1:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target / origin.name)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target)
        elif instruction == "RUN":
            container_paths += re.findall(r"python3? -m venv (\S+)", rest)
            command = image.map_text(rest, container_paths)
            with log.open("a") as out:
                out.write(f"\n$ {command}\n")
                out.flush()
                done = subprocess.run(
                    ["bash", "-euo", "pipefail", "-c", command],
                    cwd=image.path(workdir),
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=600,
                    check=False,
                )
            assert done.returncode == 0, f"RUN {rest} failed; log {log}:\n{log.read_text()[-3000:]}"
        elif instruction != "LABEL":
            pytest.fail(f"Dockerfile build stage: {instruction} is not replayed by this test yet")

    # What the final stage takes from the build stage; the rest of the build root goes.
    kept: list[str] = []
    run_env = {"PATH": BASE_PATH}
    entrypoint: list[str] = []
    for instruction, rest in final.instructions:
        if instruction == "COPY":
            args = shlex.split(rest)
            assert any(a.startswith("--from=") for a in args), (
                f"final stage COPY without --from: {rest}"
            )
            *sources, dest = [a for a in args if not a.startswith("--")]
            assert sources == [dest], "the venv must keep its path (venvs are not relocatable)"
            kept.append(dest)
        elif instruction == "ENV":
            for key, value in env_pairs(rest).items():
                run_env[key] = value.replace("$PATH", run_env.get("PATH", ""))
        elif instruction == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif instruction == "USER":
            assert re.fullmatch(r"\d+(:\d+)?", rest), f"USER must be numeric, got {rest}"
            assert not rest.startswith("0"), "the image must not run as root"
    assert entrypoint, "the Dockerfile has no ENTRYPOINT"
    # An init runs first (PID 1 in the container, tested with real containers in
    # tests/kind/test_images.py); here the command after its `--` runs directly.
    assert "--" in entrypoint, f"the ENTRYPOINT runs no init before the command: {entrypoint}"
    split = entrypoint.index("--")
    init, entrypoint = entrypoint[:split], entrypoint[split + 1 :]
    assert any(
        instruction == "RUN" and f"{init[0]}=" in rest for instruction, rest in final.instructions
    ), f"the final stage does not install {init[0]} at a pinned version"
    for child in image.root.iterdir():
        if not any(k.lstrip("/").split("/")[0] == child.name for k in kept):
            shutil.rmtree(child)  # the source tree is not in the image
    run_env["PATH"] = image.map_text(run_env["PATH"], kept)
    for path in image.root.rglob("*"):  # a read-only root filesystem
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    home = tmp / "readonly-home"
    home.mkdir()
    home.chmod(0o555)
    scratch = tmp / "tmp"  # the writable /tmp the chart mounts
    scratch.mkdir()
    run_env |= {"HOME": str(home), "TMPDIR": str(scratch)}
    entry = shutil.which(entrypoint[0], path=run_env["PATH"])
    assert entry, f"{entrypoint[0]} is not on the image's PATH"
    assert entry.startswith(str(image.root)), f"{entrypoint[0]} is not in the image's venv"
    return Image(image, [entry, *entrypoint[1:]], run_env, home, scratch)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    tmp = tmp_path_factory.mktemp("image")
    built = build(tmp)
    yield built
    for path in tmp.rglob("*"):  # let pytest clean the read-only tree up
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    tmp.chmod(tmp.stat().st_mode | stat.S_IWUSR)


@pytest.mark.parametrize(
    "args", [["--help"], ["worker", "--help"], ["operator", "--help"], ["load", "--help"]]
)
def test_image_commands_start(image: Image, args: list[str]) -> None:
    result = image.run(*args)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
    assert "Traceback" not in result.stderr


def test_image_contains_the_bundled_packs(image: Image) -> None:
    result = image.run("worker", "--task-queue", "no-such-queue")
    assert result.returncode == 2
    for queue in ("graphs.v1", "labs.provisioning.v1", "orders.saga.v1", "tasks.approval.v1"):
        assert queue in result.stderr, result.stderr  # listed among the known task queues


async def test_image_worker_round_trip(
    image: Image, temporal: TemporalEndpoint, temporal_client: Client, artifacts: Path
) -> None:
    from queuefleet_packs.cli.load import DEFAULT_GRAPH

    health = free_port()
    worker = Process.start(
        "image-worker",
        [*image.entrypoint, "worker", "--task-queue", "graphs.v1"],
        log_path=artifacts / "devloop-image" / "worker.log",
        env={
            **image.env,
            "TEMPORAL_ADDRESS": temporal.address,
            "TEMPORAL_NAMESPACE": temporal.namespace,
            "QUEUEFLEET_LISTEN_HOST": "127.0.0.1",
            "QUEUEFLEET_HEALTH_PORT": str(health),
            "QUEUEFLEET_METRICS_PORT": str(free_port()),
        },
        cwd=image.home,
    )
    try:
        worker.wait_until(
            lambda: http_ok(f"http://127.0.0.1:{health}/readyz"), timeout=60, what="readiness"
        )
        workflow_id = f"image-recipe-{uuid.uuid4()}"
        argument = {**DEFAULT_GRAPH, "input": {"i": "7"}}
        handle = await temporal_client.start_workflow(
            "GraphWorkflow", argument, id=workflow_id, task_queue="graphs.v1"
        )
        result = await handle.result()
        assert "7" in json.dumps(result)
        # The image's worker, not some other process, completed the workflow task.
        identities = {
            event.workflow_task_completed_event_attributes.identity
            async for event in handle.fetch_history_events()
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        }
        assert identities == {f"{worker.popen.pid}@{socket.gethostname()}"}
        # The image's own CLI against the same worker.
        load = image.run(
            "load", "--workflows", "3", "--concurrent", "3",
            "--address", temporal.address, "--namespace", temporal.namespace, "--json",
        )  # fmt: skip
        assert load.returncode == 0, load.stderr
        assert json.loads(load.stdout)["completed"] == 3
    finally:
        code = worker.stop(timeout=40)  # SIGTERM: the worker drains and exits 0
    assert code == 0, f"the image's worker did not drain cleanly; log {worker.log_path}"
    assert os.path.exists(worker.log_path)
