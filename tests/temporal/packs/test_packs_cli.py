"""`queuefleet workflow|load|graph` as users run them: a subprocess, its output and exit code."""

# ruff: noqa: E501  (tables of command lines read better one case per line)

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from queuefleet_packs.approval.registrar import ApprovalRegistrar
from queuefleet_packs.graphs.registrar import GraphsRegistrar
from queuefleet_packs.labs.registrar import LabsRegistrar
from temporalio.client import Client

from tests.temporal.packs.helpers import pack_worker
from tests.testbed.temporal import TemporalEndpoint

ROOT = Path(__file__).resolve().parents[3]
QUEUEFLEET = str(Path(sys.executable).with_name("queuefleet"))


@dataclass
class Outcome:
    code: int
    out: str
    err: str


async def cli(*argv: str, stdin: str | None = None) -> Outcome:
    process = await asyncio.create_subprocess_exec(
        QUEUEFLEET, *argv,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TEMPORAL_CONFIG_FILE": "/nonexistent"}, cwd=ROOT,
    )  # fmt: skip
    out, err = await asyncio.wait_for(
        process.communicate(stdin.encode() if stdin else None), timeout=120
    )
    assert process.returncode is not None
    return Outcome(process.returncode, out.decode(), err.decode())


def assert_one_line_error(outcome: Outcome, fragment: str) -> None:
    assert outcome.code != 0
    assert "Traceback" not in outcome.err
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1, outcome.err
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["workflow", "--help"], ["workflow", "start", "--help"], ["workflow", "signal", "--help"],
        ["workflow", "query", "--help"], ["workflow", "describe", "--help"], ["workflow", "cancel", "--help"],
        ["workflow", "list", "--help"], ["load", "--help"], ["graph", "--help"], ["graph", "validate", "--help"],
        ["graph", "run", "--help"],
    ],
)  # fmt: skip
async def test_every_subcommand_has_help(argv: list[str]) -> None:
    outcome = await cli(*argv)
    assert outcome.code == 0
    assert outcome.out.startswith("usage: queuefleet")


async def test_graph_validate_accepts_the_examples() -> None:
    for path in sorted((ROOT / "examples/graphs").glob("*.json")):
        outcome = await cli("graph", "validate", str(path.relative_to(ROOT)))
        assert outcome.code == 0, outcome.err
        assert "valid graph" in outcome.out


@pytest.mark.parametrize(
    ("files", "argv", "fragment"),
    [
        ({}, ["graph", "validate", "missing.json"], "graph file 'missing.json' not found"),
        ({"g.json": "{\"nodes\": ["}, ["graph", "validate", "{dir}/g.json"], "g.json is not valid JSON: Expecting value at line 1"),
        ({"g.yaml": "nodes: [\n  - {name: a\n"}, ["graph", "validate", "{dir}/g.yaml"], "g.yaml is not valid YAML"),
        ({"g.yaml": "nodes:\n  - {name: a, type: shell}\nedges:\n  - {type: start, to: a}\n"}, ["graph", "validate", "{dir}/g.yaml"],
         "invalid graph (1 problem): node 'a': unknown type 'shell'"),
        ({}, ["workflow", "start", "--input", "{}"], "--type is required (or --pack)"),
        ({}, ["workflow", "start", "--pack", "labs", "--input", "{\"requested_by\": \"ana\"}"], "the labs input needs 'lab_id'"),
        ({}, ["workflow", "start", "--pack", "labs", "--input", "{oops"], "inline input is not valid JSON"),
        ({}, ["load", "--concurrent", "0"], "--concurrent must be at least 1"),
        ({}, ["load", "--pack", "labs"], "--input is required for labs"),
        ({}, ["workflow", "list", "--limit", "0"], "--limit must be at least 1"),
        ({}, ["workflow", "describe", "x", "--address", "127.0.0.1:1"], "cannot reach Temporal at 127.0.0.1:1: connection refused"),
        ({}, ["workflow", "frobnicate"], "invalid choice: 'frobnicate'"),
        ({}, ["load", "--workflows", "many"], "argument --workflows: invalid int value: 'many'"),
    ],
)  # fmt: skip
async def test_user_mistakes_print_one_line(
    tmp_path: Path, files: dict[str, str], argv: list[str], fragment: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    outcome = await cli(*[a.replace("{dir}", str(tmp_path)) for a in argv])
    assert_one_line_error(outcome, fragment)


async def test_workflow_commands_drive_an_approval(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str, tmp_path: Path
) -> None:
    task_id = uuid.uuid4().hex[:8]
    (tmp_path / "task.yaml").write_text(
        f"task_id: {task_id}\nrequested_by: ana\nplan:\n  steps: [deploy]\n"
    )
    conn = ["--address", temporal.address, "--namespace", temporal.namespace]
    async with pack_worker(temporal_client, ApprovalRegistrar(task_queue=task_queue)):
        started = await cli("workflow", "start", "--pack", "approval", "--task-queue", task_queue,
                            "--input", str(tmp_path / "task.yaml"), *conn)  # fmt: skip
        assert started.code == 0, started.err
        assert f"id=task-{task_id}" in started.out
        for _ in range(100):
            queried = await cli("workflow", "query", f"task-{task_id}", "status", *conn)
            assert queried.code == 0, queried.err
            if json.loads(queried.out)["state"] == "awaiting_approval":
                break
        assert json.loads(queried.out)["plan"] == {"steps": ["deploy"]}
        signalled = await cli("workflow", "signal", f"task-{task_id}", "approval", "--input", "-", *conn,
                              stdin='{"action": "approve", "by": "bo"}')  # fmt: skip
        assert signalled.code == 0, signalled.err
        result = await temporal_client.get_workflow_handle(f"task-{task_id}").result()
        assert result["outcome"] == "executed"
    described = await cli("workflow", "describe", f"task-{task_id}", *conn)
    assert json.loads(described.out)["status"] == "COMPLETED"
    missing = await cli("workflow", "describe", "no-such-workflow", *conn)
    assert_one_line_error(missing, "not found")


async def test_cancel_and_list(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str
) -> None:
    conn = ["--address", temporal.address, "--namespace", temporal.namespace]
    lab = uuid.uuid4().hex[:8]
    async with pack_worker(temporal_client, LabsRegistrar(task_queue=task_queue)):
        started = await cli("workflow", "start", "--pack", "labs", "--task-queue", task_queue,
                            "--input", json.dumps({"lab_id": lab, "requested_by": "ana"}), *conn)  # fmt: skip
        assert started.code == 0, started.err
        cancelled = await cli("workflow", "cancel", f"lab-{lab}", *conn)
        assert cancelled.code == 0, cancelled.err
        for _ in range(100):
            if (
                await temporal_client.get_workflow_handle(f"lab-{lab}").describe()
            ).status.name == "CANCELED":  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.1)
    for _ in range(50):  # visibility catches up asynchronously
        listed = await cli("workflow", "list", "--query", f"WorkflowId = 'lab-{lab}'", *conn)
        if f"lab-{lab}" in listed.out:
            break
        await asyncio.sleep(0.2)
    assert "LabProvisionWorkflow" in listed.out
    assert "CANCELED" in listed.out


async def test_graph_run_and_load(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str
) -> None:
    conn = ["--address", temporal.address, "--namespace", temporal.namespace]
    async with pack_worker(temporal_client, GraphsRegistrar(task_queue=task_queue)):
        ran = await cli("graph", "run", "examples/graphs/cooldown-child.json", "--input", '{"amount": 100}',
                        "--task-queue", task_queue, *conn)  # fmt: skip
        assert ran.code == 0, ran.err
        result = json.loads(ran.out.split("\n", 1)[1])
        assert result["results"]["summary"] == "settled 100 with fee 3.0"
        loaded = await cli(
            "load",
            "--workflows",
            "20",
            "--concurrent",
            "5",
            "--task-queue",
            task_queue,
            "--json",
            *conn,
        )
        assert loaded.code == 0, loaded.err
        report = json.loads(loaded.out)
        assert (report["completed"], report["failed"]) == (20, 0)
        assert 0 < report["latency_p50_ms"] <= report["latency_p99_ms"] <= report["latency_max_ms"]
        assert "20/20" in loaded.err  # the progress bar
        failing = await cli("graph", "run", "examples/graphs/order-review.json", "--input", '{"api": "http://127.0.0.1:9"}',
                            "--task-queue", task_queue, *conn)  # fmt: skip
        assert_one_line_error(failing, "failed: node 'fetch_order' failed")
