"""The Web UI's Ingress and extra env, and what NOTES.txt says when KEDA's API is absent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.unit.charts.helmchart import CHART, HelmError, Rendered, render, run_helm

INGRESS = {
    "temporal.ui.ingress.enabled": "true",
    "temporal.ui.ingress.className": "nginx",
    "temporal.ui.ingress.hosts[0]": "temporal.example.com",
    "temporal.ui.ingress.tls[0].secretName": "ui-tls",
    "temporal.ui.ingress.tls[0].hosts[0]": "temporal.example.com",
}


def _ui_env(rendered: Rendered) -> dict[str, object]:
    deployment = rendered.one("Deployment", "qf-queuefleet-temporal-ui")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {env["name"]: env.get("value", env.get("valueFrom")) for env in container["env"]}


def test_ingress_serves_the_ui_service_with_tls(tmp_path: Path) -> None:
    rendered = Rendered(render(home=tmp_path, set_values=INGRESS))
    ingress = rendered.one("Ingress", "qf-queuefleet-temporal-ui")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [{"secretName": "ui-tls", "hosts": ["temporal.example.com"]}]
    (rule,) = ingress["rules"]
    assert rule["host"] == "temporal.example.com"
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {
        "name": "qf-queuefleet-temporal-ui",
        "port": {"name": "http"},
    }
    # The first host, over https, is the UI's public URL (CORS origin) unless one is set.
    assert _ui_env(rendered)["TEMPORAL_CORS_ORIGINS"] == "https://temporal.example.com"


def test_no_ingress_by_default(tmp_path: Path) -> None:
    assert not Rendered(render(home=tmp_path)).of_kind("Ingress")


def test_extra_env_reaches_the_ui_container(tmp_path: Path) -> None:
    rendered = Rendered(
        render(
            home=tmp_path,
            set_values={
                "temporal.ui.extraEnv[0].name": "TEMPORAL_AUTH_PROVIDER_URL",
                "temporal.ui.extraEnv[0].value": "https://idp.example",
                "temporal.ui.extraEnv[1].name": "TEMPORAL_AUTH_CLIENT_SECRET",
                "temporal.ui.extraEnv[1].valueFrom.secretKeyRef.name": "ui-oidc",
                "temporal.ui.extraEnv[1].valueFrom.secretKeyRef.key": "client-secret",
            },
        )
    )
    env = _ui_env(rendered)
    assert env["TEMPORAL_AUTH_PROVIDER_URL"] == "https://idp.example"
    assert env["TEMPORAL_AUTH_CLIENT_SECRET"] == {
        "secretKeyRef": {"name": "ui-oidc", "key": "client-secret"}
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"temporal.ui.extraEnv[0].name": "TEMPORAL_ADDRESS"}, "is set by the chart"),
        ({"temporal.ui.ingress.enabled": "true"}, "temporal.ui.ingress.hosts is empty"),
        (
            {"temporal.ui.ingress.enabled": "true", "temporal.ui.ingress.hosts[0]": "Not A Host"},
            "hosts/0",
        ),
    ],
)
def test_contradicting_ui_values_are_refused(
    tmp_path: Path, values: dict[str, str], message: str
) -> None:
    with pytest.raises(HelmError, match=message):
        render(home=tmp_path, set_values=values)


def _notes(tmp_path: Path, *extra: str) -> str:
    """NOTES.txt as `helm install` would print it, rendered by `helm template`.

    `helm template` leaves NOTES.txt out and `helm install --dry-run` needs a cluster, so
    a copy of the chart gains one ConfigMap that includes the rendered notes.
    """
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "notes-probe.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-probe\ndata:\n"
        '  notes: {{ include (print $.Template.BasePath "/NOTES.txt") . | quote }}\n'
    )
    result = run_helm(
        "helm",
        "template",
        "qf",
        str(chart),
        "--namespace",
        "queuefleet",
        "--show-only",
        "templates/notes-probe.yaml",
        *extra,
        home=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return str(yaml.safe_load(result.stdout)["data"]["notes"])


def test_notes_warn_when_keda_is_absent(tmp_path: Path) -> None:
    assert "KEDA's API (keda.sh/v1alpha1 ScaledObject) is not installed" in _notes(tmp_path)


def test_notes_stay_quiet_when_keda_is_installed(tmp_path: Path) -> None:
    notes = _notes(tmp_path, "--api-versions", "keda.sh/v1alpha1/ScaledObject")
    assert "installed as release qf" in notes
    assert "KEDA" not in notes
