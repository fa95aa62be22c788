"""Asking make what a target would run (`make -n`), for the dev-loop tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# The venv's stamp file depends on the Makefile, which changes often; `-o` keeps make from
# planning a reinstall, so the plans below hold only the target's own commands.
KEEP_VENV = ("-o", ".venv/.installed")


def make(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    if shutil.which("make") is None:
        pytest.fail("make not found on PATH")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    return subprocess.run(
        ["make", "--no-print-directory", *KEEP_VENV, *args],
        cwd=ROOT,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def plan(target: str, *assignments: str) -> list[str]:
    """The commands `make -n TARGET` would run, continuation lines joined into one each."""
    result = make("-n", target, *assignments)
    assert result.returncode == 0, f"make -n {target} failed:\n{result.stderr}"
    commands: list[str] = []
    pending = ""
    for line in result.stdout.splitlines():
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        commands.append(" ".join((pending + line).split()))
        pending = ""
    return commands


def variable(name: str) -> str:
    """A Makefile variable's value, as make expands it."""
    result = make("-s", "--eval", f"print-var: ; @echo $({name})", "print-var")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def index_of(commands: list[str], *needles: str) -> int:
    """Index of the first command containing every needle; fails naming them when none does."""
    for index, command in enumerate(commands):
        if all(needle in command for needle in needles):
            return index
    raise AssertionError(f"no command contains {needles!r}; commands:\n" + "\n".join(commands))
