"""values.yaml, values.schema.json, the README table and the CRD copies stay in step."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.unit.charts.helmchart import CHART, ROOT, load_chart_sync

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
# Free-form maps: their keys are the user's (labels, node selectors, ...), not the chart's.
# Keys the chart no longer has, kept in the schema only so a template can say what to do.
REMOVED = {"uninstallHook"}
FREE_FORM = {
    "commonLabels",
    "searchAttributes",
    "dynamicConfig",
    "annotations",
    "podAnnotations",
    "nodeSelector",
    "affinity",
    "labels",
    "podLabels",
    "resources",
    "queueDefaults",
}


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    target: Any = SCHEMA
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return _resolve(target)


def _values_paths(
    node: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    for key, value in node.items():
        path = (*prefix, key)
        yield path
        if isinstance(value, Mapping) and key not in FREE_FORM:
            yield from _values_paths(value, path)


def _schema_paths(
    node: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    for key, sub in _resolve(node).get("properties", {}).items():
        path = (*prefix, key)
        yield path
        if key not in FREE_FORM:
            yield from _schema_paths(sub, path)


def _objects(node: Mapping[str, Any], where: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(node, Mapping):
        if "properties" in node:
            yield where, node
        for key, value in node.items():
            yield from _objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _objects(value, f"{where}/{index}")


def test_every_value_is_declared_in_the_schema() -> None:
    declared = set(_schema_paths(SCHEMA))
    missing = [".".join(path) for path in _values_paths(VALUES) if path not in declared]
    assert not missing, f"values.yaml keys missing from values.schema.json: {missing}"


def test_every_schema_property_has_a_default_in_values() -> None:
    present = set(_values_paths(VALUES))
    missing = [
        ".".join(path)
        for path in _schema_paths(SCHEMA)
        if path not in present and path[0] not in {"global", *REMOVED}
    ]
    assert not missing, f"values.schema.json properties without a default in values.yaml: {missing}"


def test_schema_is_strict() -> None:
    loose = [
        where or "/"
        for where, node in _objects(SCHEMA)
        if node.get("additionalProperties") is not False
    ]
    assert not loose, f"objects that accept unknown keys: {loose}"


def test_defaults_satisfy_the_schema() -> None:
    """The schema's own defaults validate (helm lint checks it too, with Helm's validator)."""
    jsonschema.Draft7Validator(SCHEMA).validate(VALUES)


def test_generated_parts_are_up_to_date() -> None:
    """CRD copies, the queue schema from the CRD and the README values table."""
    stale = load_chart_sync().stale_files()
    assert not stale, f"stale: {[str(p.relative_to(ROOT)) for p in stale]}; run `make chart-sync`"


def test_crd_copies_are_identical_to_their_home() -> None:
    homes = sorted((ROOT / "k8s" / "crd").glob("*.yaml"))
    copies = sorted((CHART / "crds").glob("*"))
    assert [p.name for p in homes] == [p.name for p in copies]
    for home, copy in zip(homes, copies, strict=True):
        assert home.read_bytes() == copy.read_bytes(), copy


def test_every_value_is_documented() -> None:
    sync = load_chart_sync()
    text = (CHART / "values.yaml").read_text()
    docs = list(sync.value_docs(VALUES, sync.documented_paths(text)))
    assert {".".join(d.path) for d in docs} >= {"temporal.mode", "operator.replicas", "queues"}
    assert all(d.description and not d.description.startswith("--") for d in docs)


def test_an_undocumented_value_is_reported_with_its_path() -> None:
    sync = load_chart_sync()
    text = "# -- documented\na: 1\nsection:\n  b: 2\n"
    with pytest.raises(ValueError, match=r"section\.b has no `# --` comment"):
        list(sync.value_docs(yaml.safe_load(text), sync.documented_paths(text)))


def test_a_stale_readme_is_noticed(tmp_path: Path) -> None:
    sync = load_chart_sync()
    readme = (CHART / "README.md").read_text()
    table = sync.values_table((CHART / "values.yaml").read_text())
    assert sync.readme_text(readme, table) == readme
    edited = (
        (CHART / "values.yaml")
        .read_text()
        .replace("# -- Operator replicas;", "# -- How many operator replicas;")
    )
    assert sync.readme_text(readme, sync.values_table(edited)) != readme


def test_queue_schema_follows_the_crd() -> None:
    crd = yaml.safe_load((ROOT / "k8s" / "crd" / "workflowqueues.queuefleet.dev.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    queue = SCHEMA["definitions"]["queue"]["properties"]
    assert set(queue) == {"name", "labels", "annotations"} | set(spec["properties"])
    assert set(SCHEMA["definitions"]["queueDefaults"]["properties"]) == set(spec["properties"]) - {
        "taskQueue"
    }
