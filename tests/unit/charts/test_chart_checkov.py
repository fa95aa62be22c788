"""checkov finds nothing in any rendered scenario; its exceptions live in .checkov.yaml."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import component_missing
from tests.unit.charts.helmchart import (
    CHART,
    CI_VALUES,
    EXAMPLE_VALUES,
    pod_specs,
    render,
    template_text,
)

CONFIG = CHART / ".checkov.yaml"


def test_checkov_passes_every_scenario(tmp_path: Path) -> None:
    checkov = shutil.which("checkov")
    if checkov is None:
        component_missing("checkov is not on PATH; build it with `make tools`")
    rendered = tmp_path / "rendered"
    rendered.mkdir()
    for values in [*CI_VALUES, *EXAMPLE_VALUES]:
        text = template_text(home=tmp_path, values_files=[values])
        (rendered / f"{values.stem}.yaml").write_text(text)
    result = subprocess.run(
        [str(checkov), "--config-file", str(CONFIG), "--directory", str(rendered)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Failed checks: 0" in result.stdout
    assert "Passed checks: 0" not in result.stdout  # it did look at something


def test_only_api_clients_mount_a_service_account_token(tmp_path: Path) -> None:
    """The premise of skipping CKV_K8S_38 in .checkov.yaml."""
    objects = render(home=tmp_path, values_files=[CHART / "ci" / "dev-values.yaml"])
    mounting = {where for where, spec in pod_specs(objects) if spec["automountServiceAccountToken"]}
    assert mounting == {"Deployment/qf-queuefleet-operator"}


def test_every_long_running_container_has_probes(tmp_path: Path) -> None:
    """The premise of skipping CKV_K8S_8 and CKV_K8S_9 for run-to-completion pods."""
    objects = render(home=tmp_path, values_files=[CHART / "ci" / "dev-values.yaml"])
    for where, spec in pod_specs(objects):
        if where.startswith("Deployment/"):
            for container in spec["containers"]:
                assert "readinessProbe" in container, where
                assert "livenessProbe" in container, where
