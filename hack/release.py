"""Release steps that run the same in GitHub Actions and in the tests on this machine.

The release workflow (.github/workflows/release.yml) builds and pushes the image, then:

    python3 hack/release.py version v0.2.0            -> 0.2.0 (and checks pyproject.toml)
    python3 hack/release.py pin --version 0.2.0 --repository ghcr.io/queuefleet/queuefleet \\
        --digest sha256:...                           -> Chart.yaml and values.yaml, in place
    python3 hack/release.py package --out dist         -> one .tgz per chart, paths printed
    python3 hack/release.py push --registry oci://ghcr.io/queuefleet/charts dist/*.tgz

Only the standard library and `helm` on PATH: the workflow runs it with the runner's Python.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Released together at one version; the CRD chart carries no image.
CHARTS = ("queuefleet", "queuefleet-crds")
IMAGE_CHARTS = ("queuefleet",)
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# A repository without tag or digest: registry host, then lowercase path components.
REPOSITORY = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+$")


class ReleaseError(Exception):
    """A release step that must not go on; the message says why in one line."""


def version_of_tag(tag: str, *, root: Path = ROOT) -> str:
    """`v0.2.0` -> `0.2.0`, refused unless pyproject.toml already says that version."""
    version = tag.removeprefix("refs/tags/").removeprefix("v")
    if not SEMVER.match(version):
        raise ReleaseError(f"tag {tag!r} is not v<major>.<minor>.<patch>[-<pre>]")
    found = re.search(r'^version = "([^"]+)"', (root / "pyproject.toml").read_text(), re.M)
    if found is None or found.group(1) != version:
        have = found.group(1) if found else "nothing"
        raise ReleaseError(
            f"tag {tag} but pyproject.toml says {have}: bump the version in a commit, then tag it"
        )
    return version


def pin(charts_dir: Path, *, version: str, repository: str, digest: str) -> None:
    """Write the release's version and image digest into every chart (comments kept)."""
    if not SEMVER.match(version):
        raise ReleaseError(f"version {version!r} is not <major>.<minor>.<patch>[-<pre>]")
    if not DIGEST.match(digest):
        raise ReleaseError(f"digest {digest!r} is not sha256:<64 hex digits>")
    if not REPOSITORY.match(repository):
        raise ReleaseError(f"repository {repository!r} is not host/path without tag or digest")
    for name in CHARTS:
        chart = charts_dir / name
        _replace(chart / "Chart.yaml", r"^version: .*$", f"version: {version}")
        _replace(chart / "Chart.yaml", r"^appVersion: .*$", f'appVersion: "{version}"')
        if name not in IMAGE_CHARTS:
            continue
        values = chart / "values.yaml"
        in_image = r"^(image:\n(?:  .*\n)*?)"  # a key of the top-level `image:` block
        _replace(values, in_image + r"  repository: .*$", rf"\1  repository: {repository}")
        _replace(values, in_image + r"  digest: .*$", rf'\1  digest: "{digest}"')


def package(charts_dir: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for name in CHARTS:
        result = _helm("package", str(charts_dir / name), "--destination", str(out))
        # "Successfully packaged chart and saved it to: dist/queuefleet-0.2.0.tgz"
        made.append(Path(result.rsplit(": ", 1)[-1].strip()))
    return made


def push(packages: Sequence[Path], registry: str, *, plain_http: bool = False) -> None:
    if not registry.startswith("oci://"):
        raise ReleaseError(f"registry {registry!r} must be oci://host/path")
    for path in packages:
        _helm("push", str(path), registry, *(["--plain-http"] if plain_http else []))


def _replace(path: Path, pattern: str, replacement: str) -> None:
    text = path.read_text()
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.M)
    if count != 1:
        raise ReleaseError(f"{path}: no line matching {pattern!r} to rewrite")
    path.write_text(new)


def _helm(*args: str) -> str:
    try:
        result = subprocess.run(["helm", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ReleaseError("helm not on PATH") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ReleaseError(f"helm {args[0]} failed: {last}")
    return result.stdout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release.py", description="queuefleet release steps")
    parser.add_argument("--charts", type=Path, default=ROOT / "charts", help=argparse.SUPPRESS)
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("version", help="the chart/app version of a tag").add_argument("tag")
    pinning = verbs.add_parser("pin", help="write version and image digest into the charts")
    pinning.add_argument("--version", required=True)
    pinning.add_argument("--repository", required=True)
    pinning.add_argument("--digest", required=True)
    packaging = verbs.add_parser("package", help="helm package every chart")
    packaging.add_argument("--out", type=Path, required=True)
    pushing = verbs.add_parser("push", help="helm push packaged charts to an OCI registry")
    pushing.add_argument("--registry", required=True)
    pushing.add_argument("--plain-http", action="store_true", help="a registry on loopback")
    pushing.add_argument("packages", nargs="+", type=Path)
    options = parser.parse_args(argv)
    try:
        if options.verb == "version":
            print(version_of_tag(options.tag))
        elif options.verb == "pin":
            pin(
                options.charts,
                version=options.version,
                repository=options.repository,
                digest=options.digest,
            )
        elif options.verb == "package":
            for path in package(options.charts, options.out):
                print(path)
        else:
            push(options.packages, options.registry, plain_http=options.plain_http)
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
