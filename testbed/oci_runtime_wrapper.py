"""An OCI runtime that drops CAP_SYS_RESOURCE from a container's spec, then runs runc.

Some VMs (this test machine among them) start PID 1 without CAP_SYS_RESOURCE in its
capability bounding set. A `--privileged` container asks runc for every capability, and
runc cannot grant one the kernel no longer has, so it fails with "unable to apply caps:
operation not permitted" — and KIND nodes are privileged containers. The test bed's
dockerd registers this file as its default runtime only on such hosts (see docker.py).

The installed copy runs as a script under the host's python3 and must import nothing
outside the standard library.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DROPPED_CAPABILITY = "CAP_SYS_RESOURCE"
_RUNC_CANDIDATES = (
    "/usr/sbin/runc",
    "/usr/bin/runc",
    "/usr/local/sbin/runc",
    "/usr/local/bin/runc",
)


def drop_capability(capabilities: dict[str, list[str]]) -> bool:
    """Remove the capability from every set; True when something changed."""
    changed = False
    for name, values in capabilities.items():
        if isinstance(values, list) and DROPPED_CAPABILITY in values:
            capabilities[name] = [value for value in values if value != DROPPED_CAPABILITY]
            changed = True
    return changed


def rewrite_file(path: Path, *, spec: bool) -> None:
    """Edit a bundle's config.json (spec=True) or an exec's process.json in place."""
    document = json.loads(path.read_text())
    process = document.get("process", {}) if spec else document
    capabilities = process.get("capabilities")
    if isinstance(capabilities, dict) and drop_capability(capabilities):
        path.write_text(json.dumps(document))


def _option(argv: list[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def files_to_rewrite(argv: list[str], cwd: Path) -> list[tuple[Path, bool]]:
    """Which spec files a runc command line will read: (path, is_bundle_spec)."""
    if "create" in argv or "run" in argv:
        bundle = _option(argv, "--bundle") or _option(argv, "-b")
        return [((Path(bundle) if bundle else cwd) / "config.json", True)]
    if "exec" in argv:
        process = _option(argv, "--process") or _option(argv, "-p")
        if process:
            return [(Path(process), False)]
    return []


def real_runc() -> str:
    me = Path(__file__).resolve()
    for candidate in _RUNC_CANDIDATES:
        if Path(candidate).is_file() and Path(candidate).resolve() != me:
            return candidate
    sys.stderr.write("oci-runtime-wrapper: runc not found in " + ", ".join(_RUNC_CANDIDATES))
    raise SystemExit(127)


def main() -> None:
    argv = sys.argv[1:]
    for path, spec in files_to_rewrite(argv, Path.cwd()):
        if path.is_file():
            rewrite_file(path, spec=spec)
    runc = real_runc()
    os.execv(runc, [runc, *argv])


if __name__ == "__main__":
    main()
