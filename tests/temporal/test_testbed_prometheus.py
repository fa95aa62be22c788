"""Proves the Prometheus fixture: it scrapes the real Temporal server's metrics."""

from __future__ import annotations

import time

from testbed.prometheus import PrometheusEndpoint


def test_prometheus_scrapes_temporal_server(prometheus: PrometheusEndpoint) -> None:
    deadline = time.monotonic() + 60
    up: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        up = prometheus.query('up{component="temporal"} == 1')
        if up:
            break
        time.sleep(0.5)
    assert up, "Prometheus never scraped the Temporal server successfully"
    # A series only the Temporal server exports, proving the scrape reached the right process.
    series = prometheus.query(
        'count({component="temporal", __name__=~"service_requests|persistence_requests"})'
    )
    assert series
    assert float(series[0]["value"][1]) > 0
