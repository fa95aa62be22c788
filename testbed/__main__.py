"""`python -m testbed up|down|docker-up|docker-down`: the test bed for people.

`make testbed-up` runs `up`.

`up` starts Temporal (with its UI), a kwok control plane with KEDA's CRDs, and
Prometheus scraping Temporal, leaves them running in the background and records them
in <artifacts>/testbed/state.json; `down` stops whatever that file lists. `docker-up`
starts the Docker engine (unless one answers) with the KIND egress guard and leaves it
running; `docker-down` removes the guard and stops dockerd if `docker-up` started it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from .cluster import Cluster, install_crds, keda_crds_dir, start_kwok_cluster, stop_kwok_cluster
from .docker import engine_down, engine_up
from .process import TestbedError, artifacts_dir
from .prometheus import start_prometheus
from .temporal import start_temporal


def _state_path() -> Path:
    return artifacts_dir() / "testbed" / "state.json"


def up() -> int:
    state_path = _state_path()
    if state_path.exists():
        print(
            f"testbed: already up (see {state_path}); run `make testbed-down` first",
            file=sys.stderr,
        )
        return 1
    workdir = state_path.parent
    temporal_process, temporal = start_temporal(workdir / "temporal")
    state: dict[str, object] = {"pids": [temporal_process.popen.pid]}
    try:
        cluster = start_kwok_cluster(workdir / "kwok")
        state["kwok_name"] = cluster.kwok_name
        install_crds(cluster, keda_crds_dir())
        prometheus_process, prometheus = start_prometheus(
            workdir / "prometheus", {"temporal": [temporal.metrics_url]}
        )
        state["pids"] = [temporal_process.popen.pid, prometheus_process.popen.pid]
    except BaseException:
        _down(state, workdir)
        raise
    state.update(
        temporal_address=temporal.address,
        temporal_ui=temporal.ui_url,
        temporal_metrics=temporal.metrics_url,
        kubeconfig=str(cluster.kubeconfig),
        prometheus=prometheus.url,
    )
    state_path.write_text(json.dumps(state, indent=2))
    print(
        f"Temporal      {temporal.address}   (UI {temporal.ui_url})\n"
        f"Kubernetes    export KUBECONFIG={cluster.kubeconfig}\n"
        f"Prometheus    {prometheus.url}\n"
        f"Logs          {workdir}\n"
        f"Tests against it: QUEUEFLEET_KUBECONFIG={cluster.kubeconfig} "
        f"QUEUEFLEET_TEMPORAL_ADDRESS={temporal.address} make test-cluster"
    )
    return 0


def down() -> int:
    state_path = _state_path()
    if not state_path.exists():
        print("testbed: nothing is up")
        return 0
    _down(json.loads(state_path.read_text()), state_path.parent)
    state_path.unlink()
    print("testbed: stopped")
    return 0


def _down(state: dict[str, object], workdir: Path) -> None:
    kwok_name = state.get("kwok_name")
    if isinstance(kwok_name, str):
        kubeconfig = workdir / "kwok" / f"{kwok_name}.kubeconfig"
        stop_kwok_cluster(workdir / "kwok", Cluster(kubeconfig=kubeconfig, kwok_name=kwok_name))
    for pid in state.get("pids", []):  # type: ignore[union-attr]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid), signal.SIGTERM)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "docker-up", "docker-down"])
    args = parser.parse_args()
    try:
        if args.action in ("docker-up", "docker-down"):
            print(engine_up() if args.action == "docker-up" else engine_down())
            return 0
        return up() if args.action == "up" else down()
    except TestbedError as error:
        print(f"testbed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
