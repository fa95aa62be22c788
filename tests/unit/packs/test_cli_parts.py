"""The CLI's pure parts: Go-style durations, RFC 3339 times, the load progress line."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta, timezone

import pytest
from queuefleet_packs.cli.load import percentile
from queuefleet_packs.cli.options import parse_duration
from queuefleet_packs.cli.output import plain, rfc3339
from queuefleet_packs.cli.progress import Tally, format_eta, progress_line


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90), ("1h", 3600), ("1h30m", 5400), ("500ms", 0.5), ("2d", 172800),
        ("1.5h", 5400), ("90", 90), ("0.25", 0.25), (" 5M ", 300),
    ],
)  # fmt: skip
def test_durations_read_like_the_temporal_cli(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "use e.g. 90s"), ("soon", "use e.g. 90s"), ("1h30", "use e.g. 90s"),
        ("h", "use e.g. 90s"), ("1h 30m", "use e.g. 90s"), ("-5s", "use e.g. 90s"),
        ("-5", "must be positive"), ("0", "must be positive"),
        ("0s", "must be positive"), ("nan", "must be positive"),
    ],
)  # fmt: skip
def test_bad_durations_say_what_is_accepted(text: str, reason: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=reason):
        parse_duration(text)


def test_times_are_rfc3339_in_utc() -> None:
    moment = datetime(2026, 12, 1, 23, 5, 7, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(moment) == "2026-12-01T21:05:07.123Z"
    assert rfc3339(datetime(2026, 12, 1, 21, 5, 7)) == "2026-12-01T21:05:07.000Z"  # naive = UTC
    assert rfc3339(None) is None
    assert plain({"at": [datetime(2026, 1, 2, tzinfo=UTC)], "for": timedelta(minutes=1)}) == {
        "at": ["2026-01-02T00:00:00.000Z"],
        "for": 60.0,
    }


def test_progress_shows_started_completed_rate_and_eta() -> None:
    tally = Tally(total=40, awaiting_results=True, task_queue="orders", started=30, completed=19)
    tally.failed = 1
    line = progress_line(tally, elapsed=10.0)
    assert line == (
        "[###############...............] started 30/40, completed 19/40, 1 failed, 2.0/s, ETA 10s"
    )


def test_progress_says_what_it_waits_for() -> None:
    no_worker = Tally(total=4, awaiting_results=True, task_queue="orders", started=4)
    assert progress_line(no_worker, elapsed=3.0).endswith(
        "0.0/s, waiting for a worker on task queue 'orders'"
    )
    tail = Tally(total=4, awaiting_results=True, task_queue="orders", started=4, completed=3)
    assert progress_line(tail, elapsed=3.0).endswith("ETA 1s, waiting for 1 results")


def test_start_only_progress_counts_starts_and_never_mentions_completion() -> None:
    tally = Tally(total=10, awaiting_results=False, task_queue="orders", started=10)
    line = progress_line(tally, elapsed=2.0)
    assert line == "[##############################] started 10/10, 0 failed, 5.0/s"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0s"), (59, "59s"), (61, "1m01s"), (3599, "59m59s"), (7260, "2h01m")],
)
def test_eta_is_compact(seconds: float, text: str) -> None:
    assert format_eta(seconds) == text


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile([], 0.5)) == (
        50.0,
        99.0,
        0.0,
    )
