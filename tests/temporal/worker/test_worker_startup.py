"""What `queuefleet worker` does at startup: one-line errors, and options the SDK accepts."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from queuefleet_worker.runtime import worker_options
from queuefleet_worker.settings import load_settings
from temporalio.client import Client
from temporalio.worker import Worker

from testbed.temporal import TemporalEndpoint
from tests.temporal.worker.registrars import SleepActivities, SleepInput, SleepReport, SleepWorkflow
from tests.temporal.worker.workerproc import SLEEP_REGISTRAR, python_path, queuefleet_binary


def _run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [queuefleet_binary(), "worker", *args],
        env={"PYTHONPATH": python_path(), "QF_TEST_TASK_QUEUE": "startup-q", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], {}, "QUEUEFLEET_TASK_QUEUE (or --task-queue) is required"),
        (["--task-queue", "startup-q"], {"QUEUEFLEET_TUNER": "magic"}, "QUEUEFLEET_TUNER must be"),
        (["--task-queue", "startup-q", "--health-port", "0"], {}, "--health-port must be"),
        (["--task-queue", "startup-q"], {"TEMPORAL_TLS": "maybe"}, "TEMPORAL_TLS must be"),
        (
            ["--task-queue", "startup-q"],
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "smoke",
            },
            "OTEL_EXPORTER_OTLP_PROTOCOL must be",
        ),
        (
            ["--task-queue", "elsewhere", "--registrar", SLEEP_REGISTRAR],
            {},
            "known task queues: startup-q",
        ),
        (
            ["--task-queue", "startup-q", "--registrar", "no_such_module:thing"],
            {},
            "cannot load registrar",
        ),
    ],
)
def test_startup_mistakes_print_one_line_and_exit_2(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    result = _run_cli(args, env)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("queuefleet worker: error: ")
    assert expected in line


def test_a_port_in_use_fails_at_startup_naming_the_variable() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run_cli(
            ["--task-queue", "startup-q", "--registrar", SLEEP_REGISTRAR],
            {
                "TEMPORAL_ADDRESS": "127.0.0.1:1",
                "QUEUEFLEET_LISTEN_HOST": "127.0.0.1",
                "QUEUEFLEET_HEALTH_PORT": str(port),
            },
        )
    assert result.returncode == 2, result.stderr
    assert "QUEUEFLEET_HEALTH_PORT" in result.stderr.strip().splitlines()[-1]


def test_sigterm_while_starting_is_kept_and_ends_in_exit_0(tmp_path: Path) -> None:
    """KEDA can scale a pod away a second after it starts, before the event loop's signal
    handlers exist. As PID 1 a signal without a handler is discarded (the pod then dies at
    the end of its grace period); here, not PID 1, it would kill the process (-15). Sent
    while a registrar module is still importing, it must end in a clean exit 0."""
    importing = tmp_path / "importing"
    worker = subprocess.Popen(
        [
            queuefleet_binary(), "worker", "--task-queue", "startup-q",
            "--registrar", "tests.temporal.worker.slow_registrar:SleepRegistrar",
        ],
        env={
            **os.environ,
            "PYTHONPATH": python_path(),
            "QF_TEST_TASK_QUEUE": "startup-q",
            "QF_TEST_IMPORTING": str(importing),
            "TEMPORAL_ADDRESS": "127.0.0.1:1",  # nothing listens: it would retry forever
            "QUEUEFLEET_LISTEN_HOST": "127.0.0.1",
            "QUEUEFLEET_HEALTH_PORT": str(_free_port()),
            "QUEUEFLEET_METRICS_PORT": str(_free_port()),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not importing.exists():
            assert worker.poll() is None, worker.communicate()[0]
            assert time.monotonic() < deadline, "the registrar never started importing"
            time.sleep(0.01)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, output
    assert "SIGTERM received" in output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "env",
    [
        {
            "QUEUEFLEET_TUNER": "resource-based",
            "QUEUEFLEET_MAX_CONCURRENT_ACTIVITIES": "4",
            "QUEUEFLEET_MAX_CONCURRENT_WORKFLOW_TASKS": "3",
            "QUEUEFLEET_POLLER_AUTOSCALING": "true",
            "QUEUEFLEET_WORKFLOW_TASK_POLLERS": "8",
        },
        {
            "QUEUEFLEET_MAX_CONCURRENT_ACTIVITIES": "2",
            "QUEUEFLEET_WORKFLOW_TASK_POLLERS": "2",
            "QUEUEFLEET_ACTIVITY_TASK_POLLERS": "1",
            "QUEUEFLEET_GRACEFUL_SHUTDOWN_SECONDS": "0",
        },
    ],
    ids=["resource-based-tuner-autoscaling-pollers", "fixed-slots-fixed-pollers"],
)
async def test_worker_options_from_settings_run_a_workflow(
    env: dict[str, str], temporal_client: Client, task_queue: str
) -> None:
    settings = load_settings({"TEMPORAL_ADDRESS": "127.0.0.1:7233", **env}, task_queue=task_queue)
    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[SleepWorkflow],
        activities=[SleepActivities("options").sleep_then_report],
        **worker_options(settings),
    ):
        report = await temporal_client.execute_workflow(
            "SleepWorkflow",
            SleepInput(seconds=0),
            id=f"options-{uuid.uuid4()}",
            task_queue=task_queue,
            result_type=SleepReport,
            execution_timeout=timedelta(seconds=30),
        )
    assert report.label == "options"


async def test_versioned_settings_register_the_deployment_version(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str
) -> None:
    deployment = f"fleet-{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        {"QUEUEFLEET_DEPLOYMENT_NAME": deployment, "QUEUEFLEET_BUILD_ID": "build-1"},
        task_queue=task_queue,
    )
    worker = Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[SleepWorkflow],
        activities=[SleepActivities("versioned").sleep_then_report],
        **worker_options(settings),
    )
    async with worker:
        # A polling versioned worker makes the server record its deployment version.
        for _ in range(100):
            result = await asyncio.create_subprocess_exec(
                "temporal", "worker", "deployment", "describe",
                "--name", deployment, "--address", temporal.address, "--output", "json",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            out, _ = await result.communicate()
            if result.returncode == 0 and b"build-1" in out:
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail(f"deployment {deployment} never showed build-1")
