"""A real Prometheus (Debian's package) scraping targets the fixture names."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .process import Process, free_port, http_ok, require_binary

SCRAPE_INTERVAL = "1s"


@dataclass(frozen=True)
class PrometheusEndpoint:
    url: str

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query; returns the result vector (raises on an API error)."""
        params = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{params}", timeout=10) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus query {promql!r} failed: {body}")
        return list(body["data"]["result"])


def scrape_config(targets: dict[str, list[str]]) -> dict[str, Any]:
    """A Prometheus configuration scraping each job's `http://host:port/path` targets."""
    jobs = []
    for job, urls in sorted(targets.items()):
        for index, url in enumerate(urls):
            parsed = urllib.parse.urlparse(url)
            jobs.append(
                {
                    "job_name": job if len(urls) == 1 else f"{job}-{index}",
                    "metrics_path": parsed.path or "/metrics",
                    "static_configs": [{"targets": [parsed.netloc], "labels": {"component": job}}],
                }
            )
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": jobs,
    }


def start_prometheus(
    workdir: Path, targets: dict[str, list[str]]
) -> tuple[Process, PrometheusEndpoint]:
    prometheus = require_binary(
        "prometheus", "install Debian's prometheus package (`make system-packages`)"
    )
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(scrape_config(targets), sort_keys=False))
    port = free_port()
    process = Process.start(
        "prometheus",
        [
            prometheus,
            f"--config.file={config_path}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={workdir / 'data'}",
            "--web.enable-lifecycle",
        ],
        log_path=workdir / "prometheus.log",
    )
    endpoint = PrometheusEndpoint(url=f"http://127.0.0.1:{port}")
    try:
        process.wait_until(lambda: http_ok(f"{endpoint.url}/-/ready"), timeout=60, what="readiness")
    except BaseException:
        process.stop()
        raise
    return process, endpoint
