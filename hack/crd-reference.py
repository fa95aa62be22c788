"""Generate the README's WorkflowQueue reference from the CRD (`make docs`).

The CRD (k8s/crd/workflowqueues.queuefleet.dev.yaml) is the one source: every field of
spec and status with its type, default, bounds and description, and the columns of
`kubectl get wfq`. The tables go between the markers in README.md; `--check` exits 1 when
the README is stale (a unit test runs it), so the reference never drifts from the CRD.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import yaml

ROOT: Final = Path(__file__).resolve().parents[1]
CRD: Final = ROOT / "k8s" / "crd" / "workflowqueues.queuefleet.dev.yaml"
README: Final = ROOT / "README.md"
BEGIN: Final = (
    "<!-- BEGIN GENERATED: WorkflowQueue reference, from the CRD by hack/crd-reference.py -->"
)
END: Final = "<!-- END GENERATED: WorkflowQueue reference -->"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _type(node: Mapping[str, Any]) -> str:
    kind = str(node.get("type", "object"))
    if kind == "array":
        return f"[]{_type(node.get('items', {}))}"
    if kind == "object" and isinstance(node.get("additionalProperties"), Mapping):
        return f"map[string]{_type(node['additionalProperties'])}"
    return kind


def _limits(node: Mapping[str, Any]) -> str:
    parts = []
    if "enum" in node:
        parts.append("one of " + ", ".join(f"`{v}`" for v in node["enum"]))
    if "minimum" in node and "maximum" in node:
        parts.append(f"{node['minimum']} to {node['maximum']}")
    elif "minimum" in node:
        parts.append(f"≥ {node['minimum']}")
    elif "maximum" in node:
        parts.append(f"≤ {node['maximum']}")
    for key, label in (("maxLength", "chars"), ("maxItems", "items"), ("maxProperties", "keys")):
        if key in node:
            parts.append(f"≤ {node[key]} {label}")
    return "; ".join(parts)


def _flow(value: Any) -> str:
    """A default as one line of YAML flow style, e.g. `{minReplicas: 1}`."""
    return str(yaml.safe_dump(value, default_flow_style=True)).strip().removesuffix("...").strip()


def _fields(node: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    required = set(node.get("required", ()))
    for name, child in (node.get("properties") or {}).items():
        child_path = f"{path}.{name}"
        yield child_path, child, name in required
        yield from _fields(child, child_path)
        items = child.get("items")
        if isinstance(items, Mapping) and items.get("properties"):
            yield from _fields(items, f"{child_path}[]")


def _table(schema: Mapping[str, Any], root: str) -> list[str]:
    lines = [
        "| field | type | default | limits | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for path, node, required in _fields(schema, root):
        default = node.get("default")
        shown = "" if default is None else f"`{_flow(default)}`"
        name = f"`{path}`" + (" (required)" if required else "")
        description = _cell(str(node.get("description", "")))
        lines.append(
            f"| {name} | {_cell(_type(node))} | {_cell(shown)} | {_cell(_limits(node))} "
            f"| {description} |"
        )
    return lines


def render(crd: Mapping[str, Any]) -> str:
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    schema = version["schema"]["openAPIV3Schema"]["properties"]
    names = crd["spec"]["names"]
    short = names.get("shortNames") or [names["plural"]]
    columns = ["| column | from | meaning |", "| --- | --- | --- |"]
    for column in version.get("additionalPrinterColumns", ()):
        meaning = _cell(column.get("description", ""))
        columns.append(f"| {column['name']} | `{column['jsonPath']}` | {meaning} |")
    lines = [
        BEGIN,
        "",
        f"`{names['kind']}`: API `{crd['spec']['group']}/{version['name']}`, "
        f"{crd['spec']['scope'].lower()}, short name `{short[0]}`. "
        f"`kubectl get {short[0]}` shows:",
        "",
        *columns,
        "",
        "#### spec",
        "",
        *_table(schema["spec"], "spec"),
        "",
        "#### status (written by the operator)",
        "",
        *_table(schema.get("status", {}), "status"),
        "",
        END,
    ]
    return "\n".join(lines)


def updated(readme: str, reference: str) -> str:
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise SystemExit(f"crd-reference: README.md needs one pair of markers:\n{BEGIN}\n{END}")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return head + reference + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md is stale")
    args = parser.parse_args(argv)
    readme = README.read_text()
    new = updated(readme, render(yaml.safe_load(CRD.read_text())))
    if args.check:
        if new != readme:
            print(
                "crd-reference: README.md's WorkflowQueue reference is stale; run `make docs`",
                file=sys.stderr,
            )
            return 1
        return 0
    if new != readme:
        README.write_text(new)
        print("crd-reference: README.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
