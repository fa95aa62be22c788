"""Kubernetes' own schemas for the parts of spec.worker that are Pod fields.

`spec.worker.affinity`, `tolerations` and `template` take what a Pod takes, so their CRD
schema is Kubernetes' own: read from a snapshot of a kube-apiserver's OpenAPI
(`k8s/openapi/core-v1.json`, written by `crdgen --refresh-openapi`), with every `$ref`
inlined, made structural (IntOrString, Quantity), and cut where a worker pod must not go
(Pod Security "restricted": host paths, host ports, privileged containers). crdgen writes
the result between `# crdgen:begin NAME` and `# crdgen:end NAME` markers in the CRD file.

Defaults are dropped (a WorkflowQueue stores what its author wrote; the API server defaults
the Deployment), except on list-map keys, which a structural schema needs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from . import constants

__all__ = [
    "SNAPSHOT",
    "TEMPLATE_VOLUME_SOURCES",
    "affinity",
    "extract",
    "load_snapshot",
    "render_blocks",
    "template",
    "toleration",
]

SNAPSHOT = Path(__file__).resolve().parents[2] / "k8s/openapi/core-v1.json"
_CORE = "io.k8s.api.core.v1."
_ROOTS = ("Affinity", "Toleration", "Container", "Volume", "LocalObjectReference")
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_KEEP = (
    "description",
    "type",
    "format",
    "enum",
    "required",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
)
# The volume sources Pod Security "restricted" allows; the others are not in the schema.
TEMPLATE_VOLUME_SOURCES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
# Fields of a container's securityContext that "restricted" forbids or that only Windows
# or SELinux-policy authors need: left out of the schema, so setting one is refused.
_DROPPED_SECURITY = ("privileged", "windowsOptions", "seLinuxOptions", "procMount")
# Bounds on lists and strings the CEL rules walk (the API server estimates a rule's cost
# from them; the upstream schema has none).
_MAX_CONTAINERS = 8
_MAX_VOLUMES = 32
_MAX_MOUNTS = 64
_MAX_PATH = 4096
_MAX_NAME = 253


_MARKER = re.compile(
    r"^(?P<indent> *)# crdgen:begin (?P<name>\w+)\n(?:.*\n)*?(?P=indent)# crdgen:end (?P=name)\n",
    re.MULTILINE,
)


class _NoAliases(yaml.SafeDumper):
    """Every block spelled out: anchors would clash between blocks of one file."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_blocks(text: str, schemas: Mapping[str, Any] | None = None) -> str:
    """`text` with every `# crdgen:begin NAME` ... `# crdgen:end NAME` block regenerated."""
    schemas = load_snapshot() if schemas is None else schemas
    builders = {"Affinity": affinity, "Toleration": toleration, "WorkerPodTemplate": template}

    def block(match: re.Match[str]) -> str:
        indent, name = match["indent"], match["name"]
        if name not in builders:
            raise ValueError(f"unknown generated block {name!r} in the CRD")
        body = yaml.dump(builders[name](schemas), Dumper=_NoAliases, sort_keys=False, width=100)
        lines = "".join(f"{indent}{line}\n" for line in body.splitlines())
        return f"{indent}# crdgen:begin {name}\n{lines}{indent}# crdgen:end {name}\n"

    return _MARKER.sub(block, text)


def load_snapshot(path: Path = SNAPSHOT) -> dict[str, Any]:
    schemas: dict[str, Any] = json.loads(path.read_text())["components"]["schemas"]
    return schemas


def extract(openapi: Mapping[str, Any]) -> dict[str, Any]:
    """The definitions our roots need, from a whole `/openapi/v3/api/v1` document."""
    schemas = openapi["components"]["schemas"]
    wanted: dict[str, Any] = {}
    pending = [_CORE + root for root in _ROOTS]
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        wanted[name] = schemas[name]
        pending.extend(_refs(schemas[name]))
    return {"components": {"schemas": dict(sorted(wanted.items()))}}


def _refs(node: Any) -> list[str]:
    if isinstance(node, Mapping):
        found = [str(node["$ref"]).rsplit("/", 1)[1]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _inline(schemas: Mapping[str, Any], node: Mapping[str, Any], *, key: bool = False) -> Any:
    """`node` with refs inlined, structural, without defaults (kept on list-map keys)."""
    description = node.get("description")
    if "allOf" in node or "$ref" in node:
        ref = node["allOf"][0]["$ref"] if "allOf" in node else node["$ref"]
        name = str(ref).rsplit("/", 1)[1]
        out = _named(schemas, name)
        if description:
            out["description"] = _first_paragraph(description)
        if key and "default" in node:
            out["default"] = node["default"]
        return out
    out = {k: node[k] for k in _KEEP if k in node}
    if description:
        out["description"] = _first_paragraph(description)
    if key and "default" in node:
        out["default"] = node["default"]
    if "properties" in node:
        keys = set(node.get("x-kubernetes-list-map-keys", ()))
        out["properties"] = {
            prop: _inline(schemas, sub, key=prop in keys)
            for prop, sub in node["properties"].items()
        }
    if "items" in node:
        keys = set(node.get("x-kubernetes-list-map-keys", ()))
        item = node["items"]
        inlined = _inline(schemas, item)
        if keys and "properties" in inlined:
            # A list-map key must be required or defaulted: keep the upstream default.
            upstream = _deref(schemas, item).get("properties", {})
            for prop in keys:
                if "default" in upstream.get(prop, {}):
                    inlined["properties"][prop]["default"] = upstream[prop]["default"]
        out["items"] = inlined
    if "additionalProperties" in node:
        out["additionalProperties"] = _inline(schemas, node["additionalProperties"])
    return out


def _deref(schemas: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node["allOf"][0]["$ref"] if "allOf" in node else node.get("$ref")
    return node if ref is None else schemas[str(ref).rsplit("/", 1)[1]]


def _named(schemas: Mapping[str, Any], name: str) -> dict[str, Any]:
    if name == _QUANTITY:
        return {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "pattern": _QUANTITY_PATTERN,
        }
    if name == _INT_OR_STRING:
        return {"x-kubernetes-int-or-string": True}
    result: dict[str, Any] = _inline(schemas, schemas[name])
    return result


def _first_paragraph(text: str) -> str:
    return " ".join(text.split("\n\n", 1)[0].split())


def affinity(schemas: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = _named(schemas, _CORE + "Affinity")
    result.pop("description", None)  # the CRD's own description says what it is for
    return result


def toleration(schemas: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = _named(schemas, _CORE + "Toleration")
    result.pop("description", None)
    return result


def _container(schemas: Mapping[str, Any]) -> dict[str, Any]:
    container = _named(schemas, _CORE + "Container")
    props = container["properties"]
    props["name"]["maxLength"] = 63
    props["image"]["maxLength"] = 512
    for listed in ("volumeMounts", "envFrom", "env", "ports", "volumeDevices"):
        props[listed]["maxItems"] = _MAX_MOUNTS
    mount = props["volumeMounts"]["items"]["properties"]
    mount["name"]["maxLength"] = _MAX_NAME
    mount["mountPath"]["maxLength"] = _MAX_PATH
    for port in ("hostPort", "hostIP"):  # "restricted" (and "baseline") forbid host ports
        props["ports"]["items"]["properties"].pop(port)
    security = props["securityContext"]
    for dropped in _DROPPED_SECURITY:
        security["properties"].pop(dropped)
    capabilities = security["properties"]["capabilities"]["properties"]
    for kind in ("add", "drop"):
        capabilities[kind]["maxItems"] = 64
        capabilities[kind]["items"]["maxLength"] = 64
    security["x-kubernetes-validations"] = [
        {
            "rule": "!has(self.allowPrivilegeEscalation) || !self.allowPrivilegeEscalation",
            "message": "securityContext.allowPrivilegeEscalation must be false "
            '(Pod Security "restricted")',
        },
        {
            "rule": "!has(self.runAsNonRoot) || self.runAsNonRoot",
            "message": 'securityContext.runAsNonRoot must be true (Pod Security "restricted")',
        },
        {
            "rule": "!has(self.runAsUser) || self.runAsUser != 0",
            "message": 'securityContext.runAsUser must not be 0 (Pod Security "restricted")',
        },
        {
            "rule": "!has(self.capabilities) || !has(self.capabilities.add) || "
            "self.capabilities.add.all(c, c == 'NET_BIND_SERVICE')",
            "message": "securityContext.capabilities.add may only hold NET_BIND_SERVICE "
            '(Pod Security "restricted")',
        },
        {
            "rule": "!has(self.seccompProfile) || self.seccompProfile.type != 'Unconfined'",
            "message": "securityContext.seccompProfile.type must not be Unconfined "
            '(Pod Security "restricted")',
        },
        {
            "rule": "!has(self.appArmorProfile) || self.appArmorProfile.type != 'Unconfined'",
            "message": "securityContext.appArmorProfile.type must not be Unconfined "
            '(Pod Security "baseline")',
        },
    ]
    return container


def _volume(schemas: Mapping[str, Any]) -> dict[str, Any]:
    volume = _named(schemas, _CORE + "Volume")
    props = volume["properties"]
    volume["properties"] = {
        key: value
        for key, value in props.items()
        if key == "name" or key in TEMPLATE_VOLUME_SOURCES
    }
    volume["properties"]["name"]["maxLength"] = 63
    return volume


def template(schemas: Mapping[str, Any]) -> dict[str, Any]:
    """`spec.worker.template`: the part of a PodTemplateSpec a worker pod may add to."""
    worker = constants.WORKER_CONTAINER
    container = _container(schemas)
    owned = sorted(set(container["properties"]) - {"name", "volumeMounts", "envFrom"})
    untouched = " && ".join(f"!has(c.{prop})" for prop in owned)
    reserved_volumes = "', '".join(contract_volumes())
    reserved_paths = "', '".join((constants.TMP_MOUNT_PATH, constants.TLS_MOUNT_PATH))
    reference = _named(schemas, _CORE + "LocalObjectReference")
    reference["required"] = ["name"]
    reference["properties"]["name"]["maxLength"] = _MAX_NAME
    pod_labels = "', '".join(sorted(constants.OWN_LABELS))
    return {
        "type": "object",
        "properties": {
            "metadata": {
                "type": "object",
                "description": "Labels and annotations added to every worker pod (e.g. for "
                "Vault, Istio or Datadog); the operator's own labels win.",
                "properties": {
                    "labels": {
                        "type": "object",
                        "maxProperties": 64,
                        "additionalProperties": {"type": "string", "maxLength": 63},
                        "x-kubernetes-validations": [
                            {
                                "rule": f"self.all(k, !(k in ['{pod_labels}']))",
                                "message": "spec.worker.template.metadata.labels must not set "
                                "the labels the operator sets on worker pods "
                                f"({', '.join(sorted(constants.OWN_LABELS))})",
                            }
                        ],
                    },
                    "annotations": {
                        "type": "object",
                        "maxProperties": 64,
                        "additionalProperties": {"type": "string", "maxLength": 65536},
                    },
                },
            },
            "spec": {
                "type": "object",
                "description": "Pod fields merged under the operator's own: image pull "
                "secrets, volumes, init containers and sidecars. A container named "
                f"{worker} adds volumeMounts and envFrom to the worker container.",
                "properties": {
                    "imagePullSecrets": {
                        "type": "array",
                        "maxItems": 16,
                        "description": "Secrets for pulling the worker and sidecar images, "
                        "added to the operator's defaults.",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": reference,
                    },
                    "volumes": {
                        "type": "array",
                        "maxItems": _MAX_VOLUMES,
                        "description": "Extra volumes (the sources Pod Security "
                        '"restricted" allows).',
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": _volume(schemas),
                        "x-kubernetes-validations": [
                            {
                                "rule": f"self.all(v, !(v.name in ['{reserved_volumes}']))",
                                "message": "spec.worker.template.spec.volumes[].name must not "
                                "be a volume the operator adds "
                                f"({', '.join(contract_volumes())})",
                            }
                        ],
                    },
                    "initContainers": {
                        "type": "array",
                        "maxItems": _MAX_CONTAINERS,
                        "description": "Init containers, and native sidecars (restartPolicy "
                        "Always), of every worker pod.",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": container,
                        "x-kubernetes-validations": [
                            {
                                "rule": f"self.all(c, c.name != '{worker}' && has(c.image))",
                                "message": "spec.worker.template.spec.initContainers[] need "
                                f"an image and must not be named {worker}",
                            }
                        ],
                    },
                    "containers": {
                        "type": "array",
                        "maxItems": _MAX_CONTAINERS,
                        "description": "Sidecar containers of every worker pod; one named "
                        f"{worker} adds volumeMounts and envFrom to the worker container.",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": container,
                        "x-kubernetes-validations": [
                            {
                                "rule": f"self.all(c, c.name != '{worker}' || ({untouched}))",
                                "message": f"spec.worker.template.spec.containers[{worker}] "
                                "may only set volumeMounts and envFrom; the operator owns the "
                                "rest of the worker container (use the spec.worker fields)",
                            },
                            {
                                "rule": f"self.all(c, c.name != '{worker}' || "
                                "!has(c.volumeMounts) || c.volumeMounts.all(m, "
                                f"!(m.mountPath in ['{reserved_paths}'])))",
                                "message": "spec.worker.template.spec.containers"
                                f"[{worker}].volumeMounts[].mountPath must not be a path the "
                                f"operator mounts ({constants.TMP_MOUNT_PATH}, "
                                f"{constants.TLS_MOUNT_PATH})",
                            },
                            {
                                "rule": f"self.all(c, c.name == '{worker}' || has(c.image))",
                                "message": "spec.worker.template.spec.containers[] other than "
                                f"{worker} need an image",
                            },
                        ],
                    },
                },
                "x-kubernetes-validations": [
                    {
                        "rule": "!has(self.initContainers) || !has(self.containers) || "
                        "self.initContainers.all(i, self.containers.all(c, c.name != i.name))",
                        "message": "spec.worker.template.spec.initContainers[].name must "
                        "differ from every spec.worker.template.spec.containers[].name",
                    }
                ],
            },
        },
    }


# The volumes the operator adds to every worker pod (see manifests.worker_deployment).
def contract_volumes() -> tuple[str, ...]:
    return ("tmp", "temporal-tls")
