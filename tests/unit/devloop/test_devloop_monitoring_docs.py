"""What the KIND dev loop and the README promise about monitoring is what the files do.

kube-prometheus-stack keeps its default selectors on KIND (so the dev loop finds what a
stock stack would miss), queuefleet's objects carry the stack's `release` label, the
dashboards land in the Grafana folder the banner and the README name, and the README names
only dashboards, folders and commands that exist.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.charts.helmchart import CHART, Rendered, render
from tests.unit.devloop.makefile import ROOT, plan

KIND = ROOT / "k8s" / "kind"
STACK_VALUES = yaml.safe_load((KIND / "monitoring-values.yaml").read_text())
DEV_VALUES = KIND / "dev-values.yaml"
README = (ROOT / "README.md").read_text()
BANNER = (ROOT / "hack" / "kind-dev.sh").read_text()


def _stack_release() -> str:
    """The Helm release `make monitoring` installs kube-prometheus-stack as."""
    command = shlex.split(plan("monitoring")[-1])
    return command[command.index("--install") + 1]


def _dev_render(tmp_path: Path) -> Rendered:
    return Rendered(render(home=tmp_path, values_files=[DEV_VALUES]))


def _words(text: str) -> str:
    return " ".join(text.split())


def test_the_kind_stack_keeps_its_default_selectors() -> None:
    spec: dict[str, Any] = STACK_VALUES["prometheus"]["prometheusSpec"]
    overrides = [key for key in spec if key.endswith(("Selector", "SelectorNilUsesHelmValues"))]
    assert overrides == [], "the KIND stack must select as a stock kube-prometheus-stack does"


def test_dev_values_label_every_monitor_and_rule_for_the_stacks_release(
    tmp_path: Path,
) -> None:
    release = _stack_release()
    rendered = _dev_render(tmp_path)
    selected = rendered.of_kind("ServiceMonitor") + rendered.of_kind("PrometheusRule")
    assert len(selected) == 3
    for obj in selected:
        assert obj["metadata"]["labels"]["release"] == release, obj["metadata"]["name"]
    config = rendered.one("ConfigMap", "qf-queuefleet-operator")["data"]
    assert config["QUEUEFLEET_OPERATOR_POD_MONITOR_LABELS"] == f"release={release}"


def test_dashboards_land_in_the_folder_the_banner_and_the_readme_name(tmp_path: Path) -> None:
    sidecar = STACK_VALUES["grafana"]["sidecar"]["dashboards"]
    annotation = sidecar["folderAnnotation"]
    # Without it Grafana puts every file in one folder, whatever the sidecar's subfolders.
    assert sidecar["provider"]["foldersFromFilesStructure"] is True
    dashboards = [
        cm
        for cm in _dev_render(tmp_path).of_kind("ConfigMap")
        if cm["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert dashboards
    folders = {cm["metadata"]["annotations"][annotation] for cm in dashboards}
    assert len(folders) == 1
    (folder,) = folders
    assert f"folder {folder})" in BANNER
    assert f"The folder *{folder}*" in _words(README)


def test_the_readme_names_every_dashboard_by_its_title_and_no_other() -> None:
    titles = {
        json.loads(path.read_text())["title"]
        for path in (CHART / "files" / "dashboards").glob("*.json")
    }
    named = set(re.findall(r"\*(queuefleet / [^*]+)\*", _words(README)))
    assert named == titles
    assert "overview" not in _words(README).lower()


def test_the_layout_table_covers_every_top_level_folder() -> None:
    match = re.search(r"^## Layout\n(.*?)(?=^## )", README, re.M | re.S)
    assert match
    documented = {
        cell.split("/", 1)[0] for cell in re.findall(r"^\| `([^`]+)`", match.group(1), re.M)
    }
    # Tool caches and build leftovers, ignored by git; everything else is the project's.
    leftovers = {"build", "dist", "__pycache__"}
    folders = {
        path.name
        for path in ROOT.iterdir()
        if path.is_dir()
        and (not path.name.startswith(".") or path.name in {".ci", ".github"})
        and path.name not in leftovers
        and not path.name.endswith(".egg-info")
    }
    assert folders - documented == set()
    # Outputs of runs exist only once something ran; every other row must exist.
    outputs = {"bench-results", "test-artifacts"}
    assert documented - folders - outputs == set(), "the table names folders that do not exist"


def _cli_commands() -> set[tuple[str, ...]]:
    """`queuefleet COMMAND [VERB]` of every command line in the README's code blocks."""
    found: set[tuple[str, ...]] = set()
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", README, re.M | re.S):
        for line in block.splitlines():
            words = line.split()
            if len(words) < 2 or words[0] != "queuefleet":
                continue
            verb = words[2:3] if words[1] in {"workflow", "graph"} else []
            found.add((words[1], *verb))
    return found


@pytest.mark.parametrize("command", sorted(_cli_commands()), ids=" ".join)
def test_every_cli_command_in_the_readme_exists(command: tuple[str, ...]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "queuefleet_cli", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
