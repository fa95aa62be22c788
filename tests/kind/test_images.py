"""The images `make images` builds, run as the chart runs them: real containers, no cluster.

The queuefleet image runs as uid 10001 on a read-only root; the Temporal image serves the
WorkflowService over gRPC and the Web UI image serves the UI's API for that server, both
read-only with only /tmp writable, as the chart's security context has it. Ports are
published on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from testbed.docker import DockerEngine
from testbed.kind import build_images
from testbed.process import free_port

IMAGES = ("queuefleet", "temporal", "temporal-ui")
START_TIMEOUT = 120.0


def docker(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} failed: {result.stderr.strip()}", pytrace=False)
    return result


@pytest.fixture(scope="module")
def images(docker_engine: DockerEngine, artifacts: Path) -> dict[str, str]:
    """The images under test, built (or found cached) by `make images`; name -> tag."""
    return build_images(*IMAGES, log_path=artifacts / "kind" / "images-make.log")


@pytest.fixture(scope="module")
def temporal_container(images: dict[str, str]) -> Iterator[tuple[str, int, int]]:
    """The Temporal image serving start-dev, its netns also publishing the UI's port."""
    grpc_port, ui_port = free_port(), free_port()
    name = f"qf-temporal-{uuid.uuid4().hex[:8]}"
    docker(
        "run", "--detach", "--rm", "--name", name, "--read-only", "--tmpfs", "/tmp",
        "--tmpfs", "/var/lib/temporal:uid=1000,gid=1000",
        "--publish", f"127.0.0.1:{grpc_port}:7233", "--publish", f"127.0.0.1:{ui_port}:8080",
        images["temporal"],
        "server", "start-dev", "--ip=0.0.0.0", "--headless",
        "--db-filename=/var/lib/temporal/temporal.db",
    )  # fmt: skip
    try:
        yield name, grpc_port, ui_port
    finally:
        docker("rm", "--force", name, check=False)


def test_queuefleet_image_runs_as_10001_on_a_read_only_root(images: dict[str, str]) -> None:
    image = images["queuefleet"]
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    result = docker("run", "--rm", "--read-only", "--tmpfs", "/tmp", image, "--help")
    assert "usage: queuefleet" in result.stdout
    probe = (
        "import os, pathlib\n"
        "print(os.getuid(), os.getgid())\n"
        "try:\n    pathlib.Path('/opt/queuefleet/x').write_text('x')\n"
        "except OSError as error:\n    print('read-only', error.errno)\n"
    )
    result = docker(
        "run", "--rm", "--read-only", "--tmpfs", "/tmp",
        "--entrypoint", "python3", image, "-c", probe,
    )  # fmt: skip
    assert result.stdout.split("\n")[:2] == ["10001 10001", "read-only 30"]  # EROFS


@pytest.mark.parametrize("delay", [0.0, 0.2, 0.6, 3.0], ids=lambda d: f"sigterm-after-{d}s")
def test_queuefleet_worker_stops_at_once_on_a_sigterm_while_starting(
    images: dict[str, str], delay: float
) -> None:
    """A pod KEDA scales away as it starts: SIGTERM at any moment of startup ends it with 0.

    As PID 1 without an init, the worker ignored a SIGTERM that came before Python's
    handlers and ran until the kubelet's SIGKILL (exit 137 after the grace period). With no
    network Temporal stays unreachable, so without the signal the worker would never stop.
    """
    name = f"qf-early-stop-{uuid.uuid4().hex[:8]}"
    docker(
        "run", "--detach", "--name", name, "--read-only", "--tmpfs", "/tmp", "--network", "none",
        "--env", "TEMPORAL_ADDRESS=127.0.0.1:7233",
        images["queuefleet"], "worker", "--task-queue", "graphs.v1",
    )  # fmt: skip
    try:
        time.sleep(delay)
        docker("kill", "--signal", "TERM", name)
        try:
            code = docker("wait", name, timeout=20).stdout.strip()
        except subprocess.TimeoutExpired:
            code = "none: still running 20 s after SIGTERM"
        logs = docker("logs", "--tail", "5", name, check=False).stderr
        assert code == "0", f"exit {code}; logs:\n{logs}"
    finally:
        docker("rm", "--force", name, check=False)


async def test_temporal_image_serves_the_workflow_service(
    temporal_container: tuple[str, int, int],
) -> None:
    name, grpc_port, _ = temporal_container
    deadline = time.monotonic() + START_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client = await Client.connect(f"127.0.0.1:{grpc_port}", namespace="default")
            assert await client.service_client.check_health()
            return
        except (RuntimeError, ConnectionError) as error:
            last_error = error
            time.sleep(1)
    logs = docker("logs", "--tail", "30", name, check=False)
    pytest.fail(f"no gRPC answer in {START_TIMEOUT:.0f}s ({last_error}); logs:\n{logs.stderr}")


def test_ui_image_lists_the_servers_namespaces(
    images: dict[str, str], temporal_container: tuple[str, int, int]
) -> None:
    name, _, ui_port = temporal_container
    ui = f"qf-ui-{uuid.uuid4().hex[:8]}"
    docker(
        "run", "--detach", "--rm", "--name", ui, "--read-only", "--tmpfs", "/tmp",
        "--network", f"container:{name}",
        "--env", "TEMPORAL_ADDRESS=127.0.0.1:7233", "--env", "TEMPORAL_UI_PORT=8080",
        images["temporal-ui"],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        body = ""
        while time.monotonic() < deadline:
            try:
                url = f"http://127.0.0.1:{ui_port}/api/v1/namespaces"
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = response.read().decode()
                if '"default"' in body:
                    break
            except OSError:
                pass
            time.sleep(1)
        logs = docker("logs", "--tail", "30", ui, check=False)
        assert '"default"' in body, f"the UI did not list namespaces; logs:\n{logs.stderr}"
    finally:
        docker("rm", "--force", ui, check=False)
