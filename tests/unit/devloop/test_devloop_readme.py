"""The README a newcomer follows: its commands exist, and its reference matches the CRD.

`make dev-local` itself is run by tests/temporal/devloop/test_devloop_local.py, and
`make test` cannot run inside the tests (it would recurse); here every `make` command the
README names must be one make can plan (`make -n`), and the quick start must be exactly
the two documented commands.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from tests.unit.devloop.makefile import ROOT, make

README = (ROOT / "README.md").read_text()


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def make_commands() -> set[str]:
    """Every `make ...` command in the README's code blocks and inline code."""
    found = set()
    for block in code_blocks(README):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command.startswith("make "):
                found.add(command)
    for inline in re.findall(r"`(make [^`]+)`", README):
        found.add(inline.strip())
    return found


def test_quick_start_is_exactly_two_commands() -> None:
    blocks = code_blocks(section("Quick start"))
    assert blocks, "the quick start has no commands"
    commands = [line.strip() for line in blocks[0].splitlines() if line.strip()]
    assert commands == ["make dev-bounce", "make test"]


def test_local_mode_is_the_make_dev_local_command() -> None:
    (block, *_) = code_blocks(section("Local mode (no Docker, no Kubernetes)"))
    assert block.strip() == "make dev-local"


@pytest.mark.parametrize("command", sorted(make_commands()))
def test_every_make_command_in_the_readme_exists(command: str) -> None:
    result = make("-n", *shlex.split(command)[1:])  # split as the shell would
    assert result.returncode == 0, f"`{command}` is not a working make command:\n{result.stderr}"


def test_readme_names_the_dev_loop_targets() -> None:
    commands = " ".join(make_commands())
    for target in ("dev-bounce", "test", "dev-local", "port-forward", "load", "logs", "kind-down"):
        assert re.search(rf"\bmake {target}\b", commands), target


def test_workflowqueue_reference_is_generated_from_the_crd() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "crd-reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_reference_covers_every_spec_field() -> None:
    import yaml

    crd = yaml.safe_load((ROOT / "k8s" / "crd" / "workflowqueues.queuefleet.dev.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    reference = section("WorkflowQueue reference")
    for name in spec["properties"]:
        assert f"`spec.{name}`" in reference, name


def test_a_stale_reference_is_detected(tmp_path) -> None:
    import importlib.util

    loaded = importlib.util.spec_from_file_location(
        "crd_reference", ROOT / "hack" / "crd-reference.py"
    )
    assert loaded
    assert loaded.loader
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    stale = README.replace("| `spec.taskQueue`", "| `spec.taskQueueOld`", 1)
    assert stale != README
    assert (
        module.updated(stale, module.render(module.yaml.safe_load(module.CRD.read_text())))
        == README
    )


def test_values_reference_links_the_charts_generated_table() -> None:
    values = section("Values reference")
    assert "(charts/queuefleet/README.md#values)" in values
    chart_readme = (ROOT / "charts" / "queuefleet" / "README.md").read_text()
    assert re.search(r"^## Values$", chart_readme, re.M)


def test_development_section_is_kept() -> None:
    development = section("Development")
    for fact in ("make testbed-up", "QUEUEFLEET_KUBECONFIG", "make lint", "Test tiers"):
        assert fact in development, fact
