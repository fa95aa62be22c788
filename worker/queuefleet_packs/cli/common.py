"""What the workflow commands share: the connection, input files, the pack catalog, and
turning client errors into one-line messages."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from queuefleet_cli.errors import CommandError

from .errors import explain, first_line

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = [
    "PACKS",
    "Pack",
    "add_connection_arguments",
    "connect",
    "connection_target",
    "load_document",
    "print_json",
    "run_async",
]

T = TypeVar("T")
CONNECT_TIMEOUT_SECONDS: Final = 10.0


@dataclass(frozen=True)
class Pack:
    workflow: str
    task_queue: str
    id_field: str | None  # input field that names the workflow (e.g. lab-<lab_id>)
    id_prefix: str


PACKS: Final[Mapping[str, Pack]] = {
    "labs": Pack("LabProvisionWorkflow", "labs.provisioning.v1", "lab_id", "lab"),
    "approval": Pack("TaskExecutionWorkflow", "tasks.approval.v1", "task_id", "task"),
    "saga": Pack("OrderSagaWorkflow", "orders.saga.v1", "order_id", "order"),
    "graphs": Pack("GraphWorkflow", "graphs.v1", None, "graph"),
}


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "Temporal connection (defaults: TEMPORAL_* variables, then localhost:7233)"
    )
    group.add_argument("--address", help="frontend host:port")
    group.add_argument("-n", "--namespace", help="namespace (default: default)")


def connection_target(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """The Client.connect keywords (envconfig, then the flags) and the address they name."""
    from temporalio.envconfig import ClientConfig

    try:
        config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    except Exception as error:  # envconfig reports bad files and variables in its own types
        raise CommandError(f"cannot read the Temporal client configuration: {error}") from error
    if args.address:
        config["target_host"] = args.address
    if args.namespace:
        config["namespace"] = args.namespace
    config.setdefault("target_host", "localhost:7233")
    config.setdefault("namespace", "default")
    # Later messages name the namespace actually used, even when it came from the environment.
    args.namespace = config["namespace"]
    return config, str(config["target_host"])


async def connect(args: argparse.Namespace) -> Client:
    from temporalio.client import Client

    config, address = connection_target(args)
    try:
        return await asyncio.wait_for(Client.connect(**config), timeout=CONNECT_TIMEOUT_SECONDS)
    except TimeoutError:
        raise CommandError(
            f"cannot reach Temporal at {address}: no answer within {CONNECT_TIMEOUT_SECONDS:g}s; "
            "check --address (or TEMPORAL_ADDRESS)"
        ) from None
    except Exception as error:
        reason = first_line(error)
        # The SDK's core reports transport errors as Rust debug strings; say what they mean.
        if "ConnectionRefused" in reason or "Connection refused" in reason:
            reason = "connection refused (is the server running? check --address)"
        elif "dns error" in reason:
            reason = "the host name does not resolve (check --address)"
        elif "get_system_info" in reason:
            reason = "it does not answer as a Temporal frontend (is that its gRPC port?)"
        raise CommandError(f"cannot reach Temporal at {address}: {reason}") from None


def load_document(source: str, *, what: str = "input") -> Any:
    """JSON or YAML from inline text (starting with { or [), a file, or '-' for stdin."""
    import yaml

    stripped = source.strip()
    if stripped == "-":
        text, name = sys.stdin.read(), "stdin"
    elif stripped.startswith(("{", "[")):
        text, name = stripped, f"inline {what}"
    else:
        path = Path(source)
        if not path.is_file():
            raise CommandError(f"{what} file {source!r} not found")
        text, name = path.read_text(encoding="utf-8", errors="replace"), source
    try:
        if name.endswith((".yaml", ".yml")):
            return yaml.safe_load(text)
        return json.loads(text)
    except json.JSONDecodeError as error:
        if name.endswith(".json") or name.startswith("inline"):
            raise CommandError(
                f"{name} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as yaml_error:
            raise CommandError(
                f"{name} is neither JSON nor YAML: {first_line(yaml_error)}"
            ) from None
    except yaml.YAMLError as error:
        raise CommandError(f"{name} is not valid YAML: {first_line(error)}") from None


def run_async(main: Callable[[], Awaitable[T]], args: argparse.Namespace) -> T:
    """Run a command's coroutine, turning Temporal client errors into one-line CommandErrors."""
    exit_code = [1]
    if Path(sys.argv[0]).name == "queuefleet":
        # The Temporal client's native threads can crash CPython's teardown of a short-lived
        # process (temporalio/sdk-python#300); a CLI process has nothing left to tear down.
        atexit.register(_exit_without_teardown, exit_code)

    async def guarded() -> T:
        try:
            return await main()
        except CommandError:
            raise
        except Exception as error:
            explained = explain(error, args)
            if explained is None:
                raise
            raise explained from None

    try:
        result = asyncio.run(guarded())
    except CommandError:
        exit_code[0] = 2
        raise
    except KeyboardInterrupt:
        exit_code[0] = 130
        raise
    exit_code[0] = result if isinstance(result, int) else 0
    return result


def _exit_without_teardown(exit_code: list[int]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code[0])


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))
