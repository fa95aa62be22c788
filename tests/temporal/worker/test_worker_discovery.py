"""Registrars found through the `queuefleet.registrars` entry-point group of an installed package.

The sample package in tests/fixtures is installed with pip into a temporary folder (its
own wheel, entry points and all), which is then put on the worker's PYTHONPATH: the same
thing a user's package installed into the worker image amounts to.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from queuefleet_worker.registry import ENTRY_POINT_GROUP, discover
from temporalio.client import Client

from testbed.temporal import TemporalEndpoint
from tests.temporal.worker.workerproc import (
    REPO_ROOT,
    python_path,
    queuefleet_binary,
    start_worker,
)

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "sample_registrar_pkg"


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample package pip-installed into a folder of its own."""
    root = tmp_path_factory.mktemp("sample-registrar")
    source = shutil.copytree(FIXTURE, root / "source")  # building writes next to the source
    site = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(site), str(source)],
        check=True,
        timeout=120,
    )  # fmt: skip
    return site


@pytest.fixture
def sample_on_path(
    sample_site: Path, monkeypatch: pytest.MonkeyPatch, task_queue: str
) -> Iterator[str]:
    monkeypatch.setenv("SAMPLE_REGISTRAR_TASK_QUEUE", task_queue)
    monkeypatch.syspath_prepend(str(sample_site))
    yield task_queue
    sys.modules.pop("queuefleet_sample_registrar", None)


def test_discover_finds_the_installed_package_through_its_entry_point(sample_on_path: str) -> None:
    found = discover()
    sample = [r for r in found if type(r).__module__ == "queuefleet_sample_registrar"]
    assert len(sample) == 1, f"no registrar from the {ENTRY_POINT_GROUP!r} group: {found}"
    assert sample[0].task_queue == sample_on_path


def test_explicit_references_replace_entry_point_discovery(sample_on_path: str) -> None:
    found = discover(["tests.temporal.worker.registrars:OtherQueueRegistrar"])
    assert [r.task_queue for r in found] == ["other-queue"]


async def test_worker_serves_the_installed_package_without_being_told_about_it(
    temporal: TemporalEndpoint,
    temporal_client: Client,
    sample_site: Path,
    task_queue: str,
    artifacts: Path,
) -> None:
    worker = start_worker(
        name="discovered",
        task_queue=task_queue,
        address=temporal.address,
        artifacts=artifacts,
        registrar=None,
        extra_python_path=(sample_site,),
        env={"SAMPLE_REGISTRAR_TASK_QUEUE": task_queue},
    )
    try:
        await worker.wait_ready()
        result = await temporal_client.execute_workflow(
            "SampleGreeting",
            "fleet",
            id=f"sample-{uuid.uuid4()}",
            task_queue=task_queue,
            result_type=str,
            execution_timeout=timedelta(seconds=30),
        )
    finally:
        worker.process.stop()
    assert result == "hello from the sample package, fleet"


def test_unknown_task_queue_fails_at_startup_naming_the_known_queues(
    sample_site: Path, task_queue: str
) -> None:
    result = subprocess.run(
        [queuefleet_binary(), "worker", "--task-queue", "nobody-serves-this"],
        env={
            "PATH": str(Path(sys.executable).parent),
            "PYTHONPATH": python_path(sample_site),
            "SAMPLE_REGISTRAR_TASK_QUEUE": task_queue,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "no registrar serves task queue 'nobody-serves-this'" in line
    assert task_queue in line
