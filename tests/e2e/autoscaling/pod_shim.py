"""Stand-in for the kubelet the test bed lacks: worker processes matching a Deployment.

kwok's fake nodes mark Pods Running without running anything, so nothing would drain a
backlog. The shim watches one worker Deployment's `spec.replicas` and keeps exactly that
many real `queuefleet worker` processes, each with the pod template's environment (values
and Secret references resolved), except the listen address and ports: the processes share
one host, so they bind 127.0.0.1 on free ports. Scaling down sends SIGTERM, as a kubelet
would, and the worker drains before it exits.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from queuefleet_worker import contract

from testbed.cluster import Cluster
from testbed.process import Process, free_port

__all__ = ["PodShim"]

REPO = Path(__file__).resolve().parents[3]
_POLL_SECONDS = 0.5


@dataclass
class PodShim:
    cluster: Cluster
    namespace: str
    deployment: str
    log_dir: Path
    processes: list[Process] = field(default_factory=list)
    started_total: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: BaseException | None = None

    def __enter__(self) -> PodShim:
        self._thread = threading.Thread(target=self._run, name="pod-shim", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        for process in self.processes:
            process.stop()
        self.processes.clear()

    @property
    def running(self) -> int:
        return sum(1 for p in self.processes if p.alive())

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._converge()
                self._stop.wait(_POLL_SECONDS)
        except BaseException as error:  # surfaced by the test through `error`
            self.error = error

    def _converge(self) -> None:
        deployment = self._get("deployment", self.deployment)
        if deployment is None:
            return
        wanted = int(deployment["spec"].get("replicas", 1))
        self.processes = [p for p in self.processes if p.alive()]
        while len(self.processes) > wanted:
            self.processes.pop().stop()
        while len(self.processes) < wanted:
            self.processes.append(self._start_worker(deployment))

    def _start_worker(self, deployment: dict[str, Any]) -> Process:
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {item["name"]: self._env_value(item) for item in container.get("env", [])}
        env.update(
            {
                contract.ENV_LISTEN_HOST: "127.0.0.1",
                contract.ENV_HEALTH_PORT: str(free_port()),
                contract.ENV_METRICS_PORT: str(free_port()),
                "PYTHONPATH": str(REPO),  # the test registrar lives under tests/
            }
        )
        self.started_total += 1
        name = f"{self.deployment}-{self.started_total}"
        return Process.start(
            name,
            [sys.executable, "-m", "queuefleet_cli", "worker"],
            log_path=self.log_dir / f"{name}.log",
            env=env,
            cwd=REPO,
        )

    def _env_value(self, item: dict[str, Any]) -> str:
        if "value" in item:
            return str(item["value"])
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref is None:
            raise ValueError(f"pod env {item['name']}: only value and secretKeyRef are supported")
        secret = self._get("secret", ref["name"]) or {}
        return base64.b64decode(secret.get("data", {}).get(ref["key"], "")).decode()

    def _get(self, kind: str, name: str) -> dict[str, Any] | None:
        result = self.cluster.kubectl(
            "-n", self.namespace, "get", kind, name, "-o", "json", check=False
        )
        if result.returncode != 0:
            return None
        found: dict[str, Any] = json.loads(result.stdout)
        return found
