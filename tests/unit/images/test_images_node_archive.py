"""images/node/repositories_first.py: kind's builder must see every image of kube-proxy.tar."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "images/node/repositories_first.py"


def add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def docker_save_like(path: Path, repositories: dict[str, dict[str, str]]) -> None:
    manifest = [
        {
            "Config": f"{i}.json",
            "RepoTags": [f"{repo}:{tag}" for tag in tags],
            "Layers": [f"{i}/layer.tar"],
        }
        for i, (repo, tags) in enumerate(repositories.items())
    ]
    with tarfile.open(path, "w") as archive:
        for i in range(len(manifest)):
            add(archive, f"{i}/layer.tar", f"layer {i}".encode())
            add(archive, f"{i}.json", b"{}")
        add(archive, "manifest.json", json.dumps(manifest).encode())
        add(archive, "repositories", json.dumps(repositories).encode())


def run(source: Path, target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(source), str(target)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_repositories_comes_first_in_full_and_nothing_else_changes(tmp_path: Path) -> None:
    repositories = {
        "registry.k8s.io/kube-proxy": {"v1.36.3": "a"},
        "registry.k8s.io/pause": {"3.10.2": "c", "3.10": "c"},
        "kindest/local-path-helper": {"v1": "d"},  # docker writes Hub names short
        "busybox": {"1": "e"},
        "localhost:5000/x": {"2": "f"},
    }
    docker_save_like(tmp_path / "in.tar", repositories)
    result = run(tmp_path / "in.tar", tmp_path / "out.tar")
    assert result.returncode == 0, result.stderr
    with tarfile.open(tmp_path / "in.tar") as before, tarfile.open(tmp_path / "out.tar") as after:
        names = after.getnames()
        assert names[0] == "repositories"
        assert sorted(names) == sorted(before.getnames())
        for name in names[1:]:
            assert after.extractfile(name).read() == before.extractfile(name).read()  # type: ignore[union-attr]
        listed = json.load(after.extractfile("repositories"))  # type: ignore[arg-type]
    assert listed == {
        "registry.k8s.io/kube-proxy": {"v1.36.3": "a"},
        "registry.k8s.io/pause": {"3.10.2": "c", "3.10": "c"},
        "docker.io/kindest/local-path-helper": {"v1": "d"},
        "docker.io/library/busybox": {"1": "e"},
        "localhost:5000/x": {"2": "f"},
    }


def test_an_archive_without_repositories_is_refused(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "in.tar", "w") as archive:
        add(archive, "manifest.json", b"[]")
    result = run(tmp_path / "in.tar", tmp_path / "out.tar")
    assert result.returncode == 1
    assert "not a docker save archive" in result.stderr
    assert not (tmp_path / "out.tar").exists()
