"""Where the packs run, they get a PostgreSQL: the KIND dev loop, its offline layer, the
chart's example values and `make dev-local`.

Which packs need one is asked of the real registrars (they refuse to register without
`QUEUEFLEET_<PACK>_DATABASE`), so a pack that starts keeping state fails here until every
place that runs it provides a database.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from queuefleet_worker.registry import RegistrarContext, RegistryError, discover

from tests.unit.charts.helmchart import CHART, render
from tests.unit.devloop.makefile import ROOT, index_of, make, plan, variable

DEV_VALUES = ROOT / "k8s" / "kind" / "dev-values.yaml"
EXAMPLE_VALUES = CHART / "examples" / "workflow-packs-values.yaml"
KIND_TIER_VALUES = ROOT / "tests" / "kind" / "values.yaml"  # replaces the dev values' queues
DATABASE_MANIFEST = ROOT / "k8s" / "kind" / "packs-database.yaml"
# The Secret `hack/kind-dev.sh packs-db` makes, and the key holding the URI.
DEV_SECRET, URI_KEY = "packs-db", "uri"
# What a secretKeyRef stands for when a registrar is asked whether it would start.
SECRET_STAND_IN = "postgresql://queuefleet@packs-db:5432/queuefleet"


def bundled_registrars() -> dict[str, Any]:
    return {
        r.task_queue: r for r in discover(()) if type(r).__module__.startswith("queuefleet_packs")
    }


def register(task_queue: str, environ: dict[str, str]) -> None:
    registrar = bundled_registrars()[task_queue]
    registrar.register(
        RegistrarContext(task_queue=task_queue, namespace="default", environ=environ)
    )


def database_queues() -> set[str]:
    """Task queues whose registrar refuses to start without a database setting."""
    needing = set()
    for task_queue in bundled_registrars():
        try:
            register(task_queue, {})
        except RegistryError as error:
            needing.add(task_queue)
            if "_DATABASE" not in str(error):
                pytest.fail(f"{task_queue} refuses an empty environment: {error}")
    return needing


def queue_environ(queue: dict[str, Any]) -> dict[str, str]:
    """The worker's variables from a queue of the values; Secret references stand in."""
    environ = {}
    for entry in queue.get("worker", {}).get("env", []):
        environ[entry["name"]] = entry.get("value", SECRET_STAND_IN)
    return environ


def test_the_database_packs_are_the_ones_dev_local_and_the_dev_loop_provide_for() -> None:
    needing = database_queues()
    assert needing == {"labs.provisioning.v1", "tasks.approval.v1", "orders.saga.v1"}
    dev_local = load_dev_local()
    assert set(dev_local.DATABASE_PACKS) == needing


@pytest.mark.parametrize(
    "values", [DEV_VALUES, EXAMPLE_VALUES, KIND_TIER_VALUES], ids=lambda p: p.parent.name
)
def test_every_queue_of_the_values_would_start(values: Path) -> None:
    queues = yaml.safe_load(values.read_text())["queues"]
    for queue in queues:
        register(queue["taskQueue"], queue_environ(queue))  # RegistryError fails the test


@pytest.mark.parametrize(
    ("values", "secret"),
    [(DEV_VALUES, DEV_SECRET), (EXAMPLE_VALUES, "queuefleet-packs-database")],
    ids=lambda p: getattr(p, "name", p),
)
def test_database_urls_come_from_a_secret_reference_in_the_rendered_queues(
    values: Path, secret: str, tmp_path: Path
) -> None:
    rendered = render(home=tmp_path, values_files=[values])
    queues = {m["spec"]["taskQueue"]: m for m in rendered if m["kind"] == "WorkflowQueue"}
    needing = database_queues()
    assert needing <= set(queues)
    for task_queue in needing:
        env = queues[task_queue]["spec"]["worker"].get("env", [])
        (entry,) = [e for e in env if e["name"].endswith("_DATABASE")]
        assert "value" not in entry, f"{task_queue}: a database URL in plain values"
        assert entry["valueFrom"] == {"secretKeyRef": {"name": secret, "key": URI_KEY}}


def test_dev_bounce_makes_the_database_before_installing_the_chart() -> None:
    for assignments, image in (
        (("OFFLINE=1",), variable("OFFLINE_POSTGRES_IMAGE")),
        ((), f"docker.io/library/postgres:{variable('POSTGRES_MAJOR')}-bookworm"),
    ):
        commands = plan("dev-bounce", *assignments)
        order = [
            index_of(commands, "kind-dev.sh namespace"),
            index_of(commands, f"kind-dev.sh packs-db {image}"),
            index_of(commands, "upgrade --install queuefleet charts/queuefleet"),
        ]
        assert order == sorted(order), "\n".join(commands)


def test_the_offline_layer_loads_the_image_make_images_builds() -> None:
    image = variable("OFFLINE_POSTGRES_IMAGE")
    assert image in variable("OFFLINE_IMAGES").split()
    result = make(
        "-s",
        "--eval",
        "print-tag: ; @$(IMAGE_VERSIONS) hack/images.sh tag postgres",
        "print-tag",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == image


def test_the_database_manifest_names_the_secret_kind_dev_makes() -> None:
    objects = [o for o in yaml.safe_load_all(DATABASE_MANIFEST.read_text()) if o]
    assert {o["kind"] for o in objects} == {"Service", "Deployment"}
    for obj in objects:
        assert "namespace" not in obj["metadata"], "applied into the dev namespace"
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    secrets = [v["secret"]["secretName"] for v in volumes if "secret" in v]
    assert secrets == [DEV_SECRET]
    (service,) = [o for o in objects if o["kind"] == "Service"]
    assert service["metadata"]["name"] == DEV_SECRET  # the host the Secret's URI names
    script = (ROOT / "hack" / "kind-dev.sh").read_text()
    assert f"PACKS_DB={DEV_SECRET}\n" in script
    assert f"{URI_KEY}=postgresql://" in script


def load_dev_local() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_local", ROOT / "hack" / "dev_local.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module
