"""`queuefleet worker`: run the workflows and activities registered for one task queue.

Settings come from the environment (see docs/worker.md); the flags here override it.
Everything that can be checked without a network is checked before connecting: settings,
tracing variables, the registrars and whether one serves the task queue. A mistake there
prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import os
from typing import NoReturn

from . import contract

__all__ = ["add_arguments", "exit_skipping_finalization", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task-queue",
        metavar="QUEUE",
        help=f"task queue to serve (env {contract.ENV_TASK_QUEUE})",
    )
    parser.add_argument(
        "--registrar",
        action="append",
        metavar="MODULE:ATTR",
        help=(
            "registrar to load, repeatable; default: every registrar in the "
            f"'queuefleet.registrars' entry-point group (env {contract.ENV_REGISTRARS}, "
            "comma-separated)"
        ),
    )
    parser.add_argument(
        "--health-port",
        type=int,
        metavar="PORT",
        help=f"port for {contract.HEALTH_PATH} and {contract.READY_PATH} "
        f"(env {contract.ENV_HEALTH_PORT}, default {contract.DEFAULT_HEALTH_PORT})",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help=f"port for {contract.METRICS_PATH} "
        f"(env {contract.ENV_METRICS_PORT}, default {contract.DEFAULT_METRICS_PORT})",
    )


def run(args: argparse.Namespace) -> int:
    from .signals import hold_stop_signals

    hold_stop_signals()  # first: a SIGTERM during the imports below must not be lost

    import asyncio

    from queuefleet_cli.errors import CommandError

    from .logs import configure_logging
    from .registry import RegistryError, discover, serving
    from .runtime import StartupError, WorkerPlan, run_worker
    from .settings import SettingsError, load_settings
    from .tracing import tracing_settings

    environ = dict(os.environ)
    try:
        settings = load_settings(
            environ,
            task_queue=args.task_queue,
            registrars=args.registrar,
            health_port=args.health_port,
            metrics_port=args.metrics_port,
        )
        tracing = tracing_settings(environ)
        registrars = discover(settings.registrars)
        serving(registrars, settings.task_queue)
    except (SettingsError, RegistryError) as error:
        raise CommandError(str(error)) from error
    configure_logging(
        log_format=settings.log_format,
        level=settings.log_level,
        process_fields={"task_queue": settings.task_queue, "namespace": settings.namespace},
    )
    plan = WorkerPlan(settings=settings, registrars=registrars, tracing=tracing, environ=environ)
    try:
        code = asyncio.run(run_worker(plan))
    except StartupError as error:
        raise CommandError(str(error)) from error
    exit_skipping_finalization(code)


def exit_skipping_finalization(code: int) -> NoReturn:
    """Exit once the drain is done, without interpreter finalization.

    The SDK's Rust threads can call into Python while the interpreter finalizes, which
    aborts the process (temporalio/sdk-python#300: "PyGILState_Release: thread state must
    be current"), turning a clean drain into a crash exit code. Nothing is left to run
    after the drain, so flush what we wrote and leave.
    """
    import logging
    import sys

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
