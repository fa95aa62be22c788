"""The committed dashboards and rule files are exactly what the definitions generate."""

from __future__ import annotations

import json
import re

import pytest

from observability import generate
from observability.dashboards import DASHBOARDS, panel_queries


def test_committed_files_equal_the_generated_ones() -> None:
    stale = [
        str(path.relative_to(generate.ROOT))
        for path, text in generate.generated_files().items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"out of date, run `make dashboards`: {stale}"


def test_no_dashboard_file_is_left_over_from_an_older_definition() -> None:
    shipped = {path.name for path in generate.DASHBOARD_DIR.glob("*.json")}
    assert shipped == {f"{spec.uid}.json" for spec in DASHBOARDS}


def test_check_mode_names_a_stale_file(tmp_path, monkeypatch, capsys) -> None:
    dashboards = tmp_path / "dashboards"
    dashboards.mkdir()
    (dashboards / "queuefleet-old.json").write_text("{}")
    monkeypatch.setattr(generate, "ROOT", tmp_path)
    monkeypatch.setattr(generate, "DASHBOARD_DIR", dashboards)
    monkeypatch.setattr(generate, "CHART_RULES", tmp_path / "rules" / "chart.yaml")
    monkeypatch.setattr(generate, "PLAIN_RULES", tmp_path / "rules" / "plain.yaml")
    assert generate.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "dashboards/queuefleet-old.json is out of date" in out
    assert "rules/plain.yaml is out of date" in out
    assert generate.main([]) == 0  # writes them
    assert generate.main(["--check"]) == 0


@pytest.mark.parametrize("spec", DASHBOARDS, ids=lambda spec: spec.uid)
def test_every_panel_has_a_unit_thresholds_and_queries(spec) -> None:
    model = json.loads((generate.DASHBOARD_DIR / f"{spec.uid}.json").read_text())
    panels = [p for p in model["panels"] if p["type"] != "row"]
    assert panels
    for panel in panels:
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults["unit"], panel["title"]
        assert len(defaults["thresholds"]["steps"]) >= 2, panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
    assert len({p["id"] for p in model["panels"]}) == len(model["panels"])
    names = {v["name"] for v in model["templating"]["list"]}
    assert {"datasource", "namespace", "task_queue", "pod"} <= names


@pytest.mark.parametrize("spec", DASHBOARDS, ids=lambda spec: spec.uid)
def test_worker_queries_honour_the_namespace_task_queue_and_pod_variables(spec) -> None:
    model = json.loads((generate.DASHBOARD_DIR / f"{spec.uid}.json").read_text())
    for title, expr in panel_queries(model):
        for selector in re.findall(r"temporal_\w+\{([^}]*)\}", expr):
            assert '"$namespace"' in selector, title
            assert '"$task_queue"' in selector, title
            assert '"$pod"' in selector, title
