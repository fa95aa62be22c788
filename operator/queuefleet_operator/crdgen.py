"""Keep the CRD's reserved env names generated from the worker contract.

`python -m queuefleet_operator.crdgen [--check] [CRD]` rewrites (or, with --check, only
compares) the CEL rule on `spec.worker.env` that refuses names the operator sets itself:
`contract.DEPLOYER_ENV` is the one list, the CRD carries a copy the API server can enforce.
It also regenerates the Pod-field schemas of `spec.worker` (affinity, tolerations, template)
from Kubernetes' own OpenAPI (see `k8sschema`); `--refresh-openapi FILE` replaces that
snapshot from a kube-apiserver's `/openapi/v3/api/v1` (e.g. the test bed's).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path

from queuefleet_worker import contract

from . import k8sschema

__all__ = ["reserved_env_rule", "rewrite"]

DEFAULT_CRD = Path(__file__).resolve().parents[2] / "k8s/crd/workflowqueues.queuefleet.dev.yaml"
_INDENT = " " * 24  # the `- rule:` item under spec.worker.env's x-kubernetes-validations
# The generated block: from its `- rule:` line to its `message:` line, inclusive.
_BLOCK = re.compile(
    r"^(?P<i> *)- rule: >-\n(?:(?P=i)    \S.*\n)*?(?P=i)    self\.all\(e, !\(e\.name in \["
    r"(?:.|\n)*?\n +message: .*\n",
    re.MULTILINE,
)


def reserved_env_rule() -> str:
    names = ", ".join(f"'{name}'" for name in contract.DEPLOYER_ENV)
    rule = f"self.all(e, !(e.name in [{names}]))"
    body = textwrap.fill(
        rule,
        width=96,
        initial_indent=_INDENT + "    ",
        subsequent_indent=_INDENT + "    ",
        break_on_hyphens=False,
    )
    message = (
        "spec.worker.env[].name must not be a variable the operator sets from spec fields ("
        + ", ".join(contract.DEPLOYER_ENV)
        + "); use the matching spec field"
    )
    return f"{_INDENT}- rule: >-\n{body}\n{_INDENT}  message: {message}\n"


def rewrite(text: str) -> str:
    found = _BLOCK.findall(text)
    if len(found) != 1:
        raise ValueError(f"expected one reserved-env rule in the CRD, found {len(found)}")
    return k8sschema.render_blocks(_BLOCK.sub(lambda _: reserved_env_rule(), text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crd", nargs="?", type=Path, default=DEFAULT_CRD)
    parser.add_argument("--check", action="store_true", help="fail if the CRD is stale")
    parser.add_argument(
        "--refresh-openapi",
        type=Path,
        metavar="FILE",
        help="first rewrite the Kubernetes schema snapshot from this /openapi/v3/api/v1 document",
    )
    args = parser.parse_args(argv)
    if args.refresh_openapi is not None:
        document = json.loads(args.refresh_openapi.read_text())
        snapshot = json.dumps(k8sschema.extract(document), indent=1, sort_keys=True) + "\n"
        k8sschema.SNAPSHOT.write_text(snapshot)
    text = args.crd.read_text()
    wanted = rewrite(text)
    if args.check:
        if wanted != text:
            print(f"{args.crd}: reserved env names are stale; run crdgen", file=sys.stderr)
            return 1
        return 0
    if wanted != text:
        args.crd.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
