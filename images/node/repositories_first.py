"""Copy a `docker save` archive with a fully qualified `repositories` file as first member.

kind's node-image builder takes the image names of an archive from the first metadata
file it meets (`repositories` or `manifest.json`); `manifest.json` makes it read only the
first image's names, `repositories` names every image in the archive. It compares those
names as written with the references it needs (`docker.io/kindest/...`), while docker
writes Docker Hub names in their short form (`kindest/...`), so the copy's `repositories`
spells every name in full. Layers, configs and manifest.json are unchanged, so
`ctr images import` (which normalizes names itself) imports every image as before.

    python3 repositories_first.py IN.tar OUT.tar
"""

from __future__ import annotations

import io
import json
import sys
import tarfile


def qualified(repository: str) -> str:
    """Docker's short Hub names in full: `kindest/x` -> `docker.io/kindest/x`."""
    first, _, rest = repository.partition("/")
    if not rest:
        return f"docker.io/library/{repository}"
    if "." in first or ":" in first or first == "localhost":
        return repository
    return f"docker.io/{repository}"


def main(source: str, target: str) -> int:
    with tarfile.open(source) as archive:
        members = archive.getmembers()
        names = [member.name for member in members]
        if "repositories" not in names or "manifest.json" not in names:
            print(
                f"{source}: not a docker save archive (no repositories/manifest.json)",
                file=sys.stderr,
            )
            return 1
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        repositories = json.load(archive.extractfile("repositories"))  # type: ignore[arg-type]
        listed = {f"{repo}:{tag}" for repo, tags in repositories.items() for tag in tags}
        saved = {tag for entry in manifest for tag in entry.get("RepoTags") or []}
        if saved - listed:
            print(f"{source}: repositories lacks {sorted(saved - listed)}", file=sys.stderr)
            return 1
        full = json.dumps({qualified(repo): tags for repo, tags in repositories.items()}).encode()
        with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as out:
            info = archive.getmember("repositories")
            info.size = len(full)
            out.addfile(info, io.BytesIO(full))
            for member in members:
                if member.name != "repositories":
                    out.addfile(member, archive.extractfile(member) if member.isfile() else None)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
