"""`queuefleet`: the project's one command line, with a subcommand per job.

Each subcommand lives in its own module exposing `add_arguments(parser)` and
`run(args) -> int`; modules import their heavy dependencies inside `run`, so `--help`
and argument errors stay fast. User mistakes print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from .errors import CommandError

# name -> (module, one-line help). The module provides add_arguments() and run().
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "worker": ("queuefleet_worker.worker_command", "run the worker for one task queue"),
    "operator": ("queuefleet_operator.command", "run the WorkflowQueue operator"),
    "workflow": (
        "queuefleet_packs.cli.workflow",
        "start, query, signal, describe, show and end workflows",
    ),
    "load": ("queuefleet_packs.cli.load", "start N workflows, C at a time; report latency"),
    "graph": ("queuefleet_packs.cli.graph", "validate or run a workflow graph file"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("queuefleet")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser(only: str | None = None, *, stubs: bool = False) -> argparse.ArgumentParser:
    """The full parser, or one holding just the subcommand `only` (imports only its module).

    With `stubs`, subcommands are listed for --help and --version without importing them.
    """
    parser = _Parser(prog="queuefleet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"queuefleet {version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        if only is not None and name != only:
            continue
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if stubs:
            continue
        module = importlib.import_module(module_name)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # A worker pod's cold start should not pay for importing every other subcommand, and
    # without a subcommand first the parse can only print help, the version or an error.
    chosen = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    args = build_parser(only=chosen, stubs=chosen is None).parse_args(argv)
    try:
        return int(args._run(args))
    except CommandError as error:
        print(f"queuefleet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
