"""The `helm test` script against a real Temporal (in kwok its pod cannot run, so here)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from testbed.process import free_port
from testbed.temporal import TemporalEndpoint
from tests.unit.charts.helmchart import CHART

SCRIPT = CHART / "files" / "tests" / "roundtrip.py"


def _run(address: str, namespace: str, timeout: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": namespace,
        "ROUNDTRIP_TIMEOUT_SECONDS": timeout,
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_round_trip_completes_against_temporal(temporal: TemporalEndpoint) -> None:
    result = _run(temporal.address, temporal.namespace, "60")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"round-trip against {temporal.address} completed: echo: hello" in result.stdout


def test_round_trip_fails_in_one_line_without_a_server() -> None:
    # The SDK's native threads used to abort the interpreter at exit about one run in
    # six (SIGABRT instead of exit 1), so a single run proves little: run several at once.
    address = f"127.0.0.1:{free_port()}"
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: _run(address, "default", "5"), range(6)))
    for result in results:
        assert result.returncode == 1, (result.returncode, result.stdout + result.stderr)
        (line,) = result.stdout.strip().splitlines()
        assert line.startswith(f"round-trip against {address} failed:")
