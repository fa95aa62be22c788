"""`queuefleet workflow|load|graph` as users run them: a subprocess, its output and exit code."""

# ruff: noqa: E501  (tables of command lines read better one case per line)

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from queuefleet_packs.approval.registrar import ApprovalRegistrar
from queuefleet_packs.graphs.registrar import GraphsRegistrar
from queuefleet_packs.labs.registrar import LabsRegistrar
from temporalio.client import Client
from temporalio.service import RPCError

from testbed.temporal import TemporalEndpoint
from tests.temporal.packs.helpers import local_service, pack_worker

ROOT = Path(__file__).resolve().parents[3]
QUEUEFLEET = str(Path(sys.executable).with_name("queuefleet"))


@dataclass
class Outcome:
    code: int
    out: str
    err: str


async def cli(*argv: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Outcome:
    process = await asyncio.create_subprocess_exec(
        QUEUEFLEET, *argv,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TEMPORAL_CONFIG_FILE": "/nonexistent", **(env or {})}, cwd=ROOT,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin else None), timeout=120
        )
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
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
        ["workflow", "list", "--help"], ["workflow", "result", "--help"], ["workflow", "show", "--help"],
        ["workflow", "terminate", "--help"], ["load", "--help"], ["graph", "--help"], ["graph", "validate", "--help"],
        ["graph", "run", "--help"],
    ],
)  # fmt: skip
async def test_every_subcommand_has_help(argv: list[str]) -> None:
    outcome = await cli(*argv)
    assert outcome.code == 0
    assert outcome.out.startswith("usage: queuefleet")


async def test_version_names_the_installed_package() -> None:
    from importlib.metadata import version

    outcome = await cli("--version")
    assert (outcome.code, outcome.out.strip()) == (0, f"queuefleet {version('queuefleet')}")


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
        ({}, ["workflow", "start", "--pack", "labs", "--input", "{oops"], "--input is not valid JSON: Expecting property name"),
        ({}, ["workflow", "start", "--pack", "labs", "-i", "lab.json"], "--input is not valid JSON: Expecting value at line 1 column 1 (to read a file, use --input-file)"),
        ({}, ["workflow", "start", "--pack", "labs", "--input-file", "lab.json"], "input file 'lab.json' not found"),
        ({"lab.json": "{\"lab_id\": 1,}"}, ["workflow", "start", "--pack", "labs", "--input-file", "{dir}/lab.json"], "lab.json is not valid JSON"),
        ({}, ["workflow", "start", "--type", "T", "-t", "q", "--execution-timeout", "1h30x"], "invalid duration '1h30x': use e.g. 90s, 5m, 1h30m"),
        ({}, ["workflow", "start", "--type", "T", "-t", "q", "--execution-timeout", "0s"], "invalid duration '0s': must be positive"),
        ({}, ["workflow", "start", "--type", "T", "-t", "q", "-i", "{}", "--input-file", "x"], "argument --input-file: not allowed with argument -i/--input"),
        ({}, ["workflow", "describe", "-o", "yaml", "-w", "x"], "argument -o/--output: invalid choice: 'yaml'"),
        ({}, ["workflow", "describe"], "-w/--workflow-id is required"),
        ({}, ["workflow", "query", "-w", "x"], "--name is required"),
        ({}, ["load", "--timeout", "soon"], "invalid duration 'soon'"),
        ({}, ["load", "--concurrent", "0"], "--concurrent must be at least 1"),
        ({}, ["load", "--pack", "labs"], "--input is required for labs"),
        ({}, ["workflow", "list", "--limit", "0"], "--limit must be at least 1"),
        ({}, ["workflow", "describe", "-w", "x", "--address", "127.0.0.1:1"], "cannot reach Temporal at 127.0.0.1:1: connection refused"),
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


def assert_deprecation(outcome: Outcome, old: str, new: str) -> None:
    """The deprecated form still works and says, in one stderr line, what to use instead."""
    warnings = [line for line in outcome.err.splitlines() if "deprecated" in line]
    assert len(warnings) == 1, outcome.err
    assert old in warnings[0], warnings[0]
    assert f"use {new}" in warnings[0], warnings[0]


async def poll_cli(
    *argv: str, until: Callable[[Outcome], bool], what: str, timeout: float = 30
) -> Outcome:
    """Run the CLI until `until(outcome)` holds (visibility and workers catch up asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        outcome = await cli(*argv)
        if until(outcome):
            return outcome
        if asyncio.get_running_loop().time() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}: {outcome}")
        await asyncio.sleep(0.2)


RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def connection(temporal: TemporalEndpoint) -> list[str]:
    return ["--address", temporal.address, "--namespace", temporal.namespace]


async def test_workflow_commands_drive_an_approval(
    temporal: TemporalEndpoint,
    temporal_client: Client,
    task_queue: str,
    tmp_path: Path,
    database_uri: str,
) -> None:
    task_id = uuid.uuid4().hex[:8]
    workflow_id = f"task-{task_id}"
    (tmp_path / "task.yaml").write_text(
        f"task_id: {task_id}\nrequested_by: ana\nplan:\n  steps: [deploy]\n"
    )
    conn = connection(temporal)
    async with pack_worker(
        temporal_client,
        ApprovalRegistrar(task_queue=task_queue),
        environ={"QUEUEFLEET_APPROVAL_DATABASE": database_uri},
    ):
        started = await cli("workflow", "start", "--pack", "approval", "-t", task_queue,
                            "--input-file", str(tmp_path / "task.yaml"), *conn)  # fmt: skip
        assert started.code == 0, started.err
        assert f"id={workflow_id}" in started.out
        queried = await poll_cli(
            "workflow", "query", "-w", workflow_id, "--name", "status", "-o", "json", *conn,
            until=lambda o: o.code == 0 and json.loads(o.out)["state"] == "awaiting_approval",
            what="the approval to wait for a review",
        )  # fmt: skip
        assert json.loads(queried.out)["plan"] == {"steps": ["deploy"]}
        # 0.1's positional form still answers, with one warning line.
        legacy = await cli("workflow", "query", workflow_id, "status", "-o", "jsonl", *conn)
        assert legacy.code == 0, legacy.err
        assert json.loads(legacy.out)["state"] == "awaiting_approval"
        assert_deprecation(
            legacy, "the positional WORKFLOW_ID NAME", f"-w {workflow_id} --name status"
        )
        # Starting the same id again is the common mistake: one line, exit 2, no traceback.
        again = await cli("workflow", "start", "--pack", "approval", "-t", task_queue,
                          "--input-file", str(tmp_path / "task.yaml"), *conn)  # fmt: skip
        assert again.code == 2
        assert_one_line_error(
            again, f"workflow '{workflow_id}' is already running in namespace 'default'"
        )
        signalled = await cli("workflow", "signal", "-w", workflow_id, "--name", "approval",
                              "--input-file", "-", *conn, stdin='{"action": "approve", "by": "bo"}')  # fmt: skip
        assert (signalled.code, signalled.err) == (0, ""), signalled.err
        result = await cli("workflow", "result", "-w", workflow_id, "-o", "json", *conn)
        assert result.code == 0, result.err
        assert json.loads(result.out)["outcome"] == "executed"

    described = await cli("workflow", "describe", "-w", workflow_id, "-o", "json", *conn)
    description = json.loads(described.out)
    assert (description["status"], description["task_queue"]) == ("COMPLETED", task_queue)
    assert RFC3339_UTC.match(description["start_time"]), description
    assert RFC3339_UTC.match(description["close_time"]), description
    text = await cli("workflow", "describe", "-w", workflow_id, *conn)
    assert re.search(r"^status\s+COMPLETED$", text.out, re.MULTILINE), text.out

    shown = await cli("workflow", "show", "-w", workflow_id, "-o", "jsonl", *conn)
    assert shown.code == 0, shown.err
    events = [json.loads(line) for line in shown.out.splitlines()]
    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "WORKFLOW_EXECUTION_STARTED"
    assert events[0]["attributes"]["taskQueue"]["name"] == task_queue
    assert events[-1]["type"] == "WORKFLOW_EXECUTION_COMPLETED"
    assert "WORKFLOW_EXECUTION_SIGNALED" in {e["type"] for e in events}
    assert all(RFC3339_UTC.match(e["time"]) for e in events)
    table = await cli("workflow", "show", "-w", workflow_id, *conn)
    assert table.out.splitlines()[0].split() == ["ID", "TIME", "TYPE"]
    assert len(table.out.splitlines()) == len(events) + 1


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["workflow", "describe", "-w", "no-such-workflow"], "no workflow 'no-such-workflow' in namespace 'default'; `queuefleet workflow list`"),
        (["workflow", "result", "-w", "no-such-workflow"], "no workflow 'no-such-workflow' in namespace 'default'"),
        (["workflow", "terminate", "-w", "no-such-workflow"], "no workflow 'no-such-workflow' in namespace 'default'"),
        (["workflow", "describe", "-w", "x", "-n", "no-such-namespace"], "namespace 'no-such-namespace' does not exist on this server; pass an existing one with -n/--namespace"),
        (["workflow", "list", "--namespace", "no-such-namespace"], "namespace 'no-such-namespace' does not exist"),
        (["workflow", "list", "-q", "NoSuchField = 'x'"], "Temporal rejected the request as invalid:"),
    ],
)  # fmt: skip
async def test_server_refusals_print_one_line(
    temporal: TemporalEndpoint, argv: list[str], fragment: str
) -> None:
    # The namespace given last wins, so the wrong-namespace cases override the bed's.
    outcome = await cli(*argv[:2], "--address", temporal.address, *argv[2:])
    assert outcome.code == 2
    assert_one_line_error(outcome, fragment)


async def test_an_address_that_is_not_temporal_says_so() -> None:
    with local_service() as http_only:  # answers HTTP/1.1, not gRPC
        outcome = await cli("workflow", "list", "--address", f"127.0.0.1:{http_only.port}")
    assert_one_line_error(
        outcome,
        f"cannot reach Temporal at 127.0.0.1:{http_only.port}: it does not answer as a Temporal frontend",
    )


async def test_a_query_nobody_answers_names_the_task_queue(
    temporal: TemporalEndpoint, task_queue: str
) -> None:
    conn = connection(temporal)
    workflow_id = f"unserved-{uuid.uuid4()}"
    started = await cli("workflow", "start", "--type", "LabProvisionWorkflow", "-t", task_queue,
                        "-w", workflow_id, "-i", '{"lab_id": "x", "requested_by": "ana"}', *conn)  # fmt: skip
    assert started.code == 0, started.err
    queried = await cli("workflow", "query", "-w", workflow_id, "--name", "current_phase", *conn)
    assert_one_line_error(
        queried, f"no worker polls task queue '{task_queue}' (DescribeTaskQueue lists no pollers)"
    )
    terminated = await cli(
        "workflow", "terminate", "-w", workflow_id, "--reason", "test over", *conn
    )
    assert (terminated.code, terminated.out.strip()) == (0, f"terminated {workflow_id}")
    result = await cli("workflow", "result", "-w", workflow_id, *conn)
    assert_one_line_error(
        result, f"workflow {workflow_id} did not complete: TerminatedError: test over"
    )


async def test_cancel_and_list(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    conn = connection(temporal)
    lab = uuid.uuid4().hex[:8]
    async with pack_worker(
        temporal_client,
        LabsRegistrar(task_queue=task_queue),
        environ={"QUEUEFLEET_LABS_DATABASE": database_uri},
    ):
        started = await cli("workflow", "start", "--pack", "labs", "-t", task_queue,
                            "-i", json.dumps({"lab_id": lab, "requested_by": "ana"}), "-o", "json", *conn)  # fmt: skip
        assert started.code == 0, started.err
        assert json.loads(started.out)["workflow_id"] == f"lab-{lab}"
        cancelled = await cli("workflow", "cancel", f"lab-{lab}", *conn)
        assert cancelled.code == 0, cancelled.err
        assert_deprecation(cancelled, "the positional WORKFLOW_ID", f"-w lab-{lab}")
        await poll_cli(
            "workflow", "describe", "-w", f"lab-{lab}", "-o", "json", *conn,
            until=lambda o: o.code == 0 and json.loads(o.out)["status"] == "CANCELED",
            what="the lab to be cancelled",
        )  # fmt: skip
    listed = await poll_cli(
        "workflow", "list", "-q", f"WorkflowId = 'lab-{lab}'", "-o", "jsonl", *conn,
        until=lambda o: o.code == 0 and f"lab-{lab}" in o.out,
        what="visibility to list the lab",
    )  # fmt: skip
    [row] = [json.loads(line) for line in listed.out.splitlines()]
    assert (row["type"], row["status"], row["task_queue"]) == (
        "LabProvisionWorkflow",
        "CANCELED",
        task_queue,
    )
    assert RFC3339_UTC.match(row["start_time"]), row
    assert RFC3339_UTC.match(row["close_time"]), row
    table = await cli("workflow", "list", "-q", f"WorkflowId = 'lab-{lab}'", *conn)
    assert table.out.splitlines()[0].split()[:2] == ["WORKFLOW", "ID"]
    assert re.search(
        rf"^lab-{lab}\s+LabProvisionWorkflow\s+CANCELED\s+\S+Z$", table.out, re.MULTILINE
    )


async def test_graph_run_and_load(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str, tmp_path: Path
) -> None:
    conn = connection(temporal)
    async with pack_worker(temporal_client, GraphsRegistrar(task_queue=task_queue)):
        ran = await cli("graph", "run", "examples/graphs/cooldown-child.json", "-i", '{"amount": 100}',
                        "-t", task_queue, "--id", f"graph-{uuid.uuid4()}", *conn)  # fmt: skip
        assert ran.code == 0, ran.err
        assert_deprecation(ran, "--id", "-w/--workflow-id")
        result = json.loads(ran.out.split("\n", 1)[1])
        assert result["results"]["summary"] == "settled 100 with fee 3.0"
        loaded = await cli(
            "load", "--workflows", "20", "--concurrent", "5", "-t", task_queue, "--json", *conn
        )
        assert loaded.code == 0, loaded.err
        report = json.loads(loaded.out)
        assert (report["mode"], report["started"], report["completed"], report["failed"]) == (
            "complete",
            20,
            20,
            0,
        )
        assert report["timed_out"] is False
        assert 0 < report["latency_p50_ms"] <= report["latency_p99_ms"] <= report["latency_max_ms"]
        assert (
            f"load: connecting to Temporal at {temporal.address} (namespace default)" in loaded.err
        )
        assert "started 20/20, completed 20/20, 0 failed" in loaded.err  # the progress line
        (tmp_path / "run.yaml").write_text(
            "graph:\n  name: echo\n  nodes: [{name: echo, type: transform, output: '{{input.word}}'}]\n"
            "  edges: [{type: start, to: echo}]\ninput: {word: hello}\n"
        )
        waited = await cli("workflow", "start", "--type", "GraphWorkflow", "-t", task_queue, "--input-file",
                           str(tmp_path / "run.yaml"), "--wait", "-o", "json", "--execution-timeout", "1m", *conn)  # fmt: skip
        assert waited.code == 0, waited.err
        document = json.loads(waited.out)
        assert (document["type"], document["task_queue"]) == ("GraphWorkflow", task_queue)
        assert document["result"]["results"]["echo"] == "hello"
        failing = await cli("graph", "run", "examples/graphs/order-review.json", "--input", '{"api": "http://127.0.0.1:9"}',
                            "-t", task_queue, *conn)  # fmt: skip
        assert_one_line_error(failing, "failed: node 'fetch_order' failed")


async def test_load_start_only_reports_starts_and_a_timeout_still_reports(
    temporal: TemporalEndpoint, task_queue: str
) -> None:
    conn = connection(temporal)
    # No worker serves this queue: starting works, completing cannot.
    started = await cli(
        "load", "--workflows", "6", "--concurrent", "3", "-t", task_queue, "--start-only", *conn
    )
    assert started.code == 0, started.err
    [summary] = started.out.splitlines()
    assert summary.startswith("started 6/6, 0 failed, none awaited (--start-only) in "), summary
    assert "start latency p50" in summary
    assert "completed" not in summary
    assert "not awaiting results (--start-only)" in started.err

    timed_out = await cli("load", "--workflows", "4", "--concurrent", "4", "-t", task_queue,
                          "--timeout", "2s", "--json", *conn)  # fmt: skip
    assert timed_out.code == 2
    report = json.loads(timed_out.out)
    assert (report["timed_out"], report["started"], report["completed"], report["workflows"]) == (
        True,
        4,
        0,
        4,
    )
    assert "Traceback" not in timed_out.err
    assert timed_out.err.strip().splitlines()[-1] == (
        f"queuefleet load: error: gave up after 2s with 4 of 4 started and 0 completed; "
        f"is a worker polling task queue '{task_queue}'?"
    )
    assert f"waiting for a worker on task queue '{task_queue}'" in timed_out.err

    deprecated = await cli("load", "--workflows", "1", "-t", task_queue, "--start-only", "-o", "jsonl",
                           "--input", "examples/graphs/cooldown-child.json", *conn)  # fmt: skip
    assert deprecated.code == 0, deprecated.err
    assert_deprecation(deprecated, "--input examples/graphs/cooldown-child.json", "--input-file")
    assert json.loads(deprecated.out)["started"] == 1


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    match = re.search(
        r"^## Driving workflows from the command line\n.*?^```\n(.*?)^```", text, re.M | re.S
    )
    assert match, "README has no command-line section with a code block"
    return [line for line in match.group(1).splitlines() if line.strip()]


async def test_the_readme_commands_work_as_written(
    temporal: TemporalEndpoint, temporal_client: Client, database_uri: str
) -> None:
    commands = readme_commands()
    assert len(commands) >= 10
    # The session's server may keep the README's fixed id from an earlier, interrupted run.
    with contextlib.suppress(RPCError):
        await temporal_client.get_workflow_handle("task-42").terminate("a fresh README run")
    env = {"TEMPORAL_ADDRESS": temporal.address, "TEMPORAL_NAMESPACE": temporal.namespace}
    async with (
        pack_worker(temporal_client, GraphsRegistrar()),
        pack_worker(
            temporal_client,
            ApprovalRegistrar(),
            environ={"QUEUEFLEET_APPROVAL_DATABASE": database_uri},
        ),
    ):
        for command in commands:
            program, *argv = shlex.split(command)
            assert program == "queuefleet", command
            outcome = await cli(*argv, env=env)
            assert outcome.code == 0, f"{command}\n{outcome.err}"
            assert "Traceback" not in outcome.err, command
    result = await temporal_client.get_workflow_handle("task-42").result()
    assert result["outcome"] == "executed"
