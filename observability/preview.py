"""Render the dashboards' main panels to PNG from a Prometheus server, without Grafana.

    python -m observability.preview --prometheus http://127.0.0.1:9090 --out previews/

One PNG per dashboard (its panels marked `main`), each panel a time series chart over the
last minutes with its unit on the axis and its thresholds as dashed lines. For README
images and for people without Grafana; needs matplotlib (the `observability` extra).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .dashboards import DASHBOARDS, DashboardSpec, PanelSpec
from .promql import resolve

__all__ = ["Series", "fetch_panel", "main", "render_dashboard", "render_panels"]

_COLUMNS = 2
_THRESHOLD_COLORS = {"green": "#56a64b", "orange": "#ff9830", "red": "#e02f44"}


@dataclass(frozen=True, kw_only=True)
class Series:
    label: str
    times: tuple[float, ...]  # unix seconds
    values: tuple[float, ...]


def _query_range(url: str, expr: str, start: float, end: float, step: float) -> Any:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    request = f"{url.rstrip('/')}/api/v1/query_range?{params}"
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the user's URL
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus rejected {expr!r}: {body.get('error')}")
    return body["data"]["result"]


def _legend(template: str, labels: dict[str, str]) -> str:
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)
    return text.strip() or "value"


def fetch_panel(
    panel: PanelSpec, prometheus_url: str, *, minutes: float = 15, end: float | None = None
) -> list[Series]:
    """Every series of a panel's queries over the last `minutes`, as Grafana would fetch it."""
    end = end or time.time()
    start = end - minutes * 60
    step = max(1.0, minutes * 60 / 300)  # about 300 points per series
    rate_interval = f"{max(4 * step, 30):.0f}s"  # what Grafana's $__rate_interval would cover
    series = []
    for query in panel.queries:
        expr = resolve(query.expr, rate_interval=rate_interval)
        for result in _query_range(prometheus_url, expr, start, end, step):
            points = [(float(t), float(v)) for t, v in result["values"]]
            series.append(
                Series(
                    label=_legend(query.legend, result["metric"]),
                    times=tuple(t for t, _ in points),
                    values=tuple(v for _, v in points),
                )
            )
    return series


def render_panels(
    title: str,
    panels: Sequence[PanelSpec],
    prometheus_url: str,
    path: Path,
    *,
    minutes: float = 15,
) -> Path:
    """One PNG with a chart per panel; returns its path."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    rows = (len(panels) + _COLUMNS - 1) // _COLUMNS
    columns = min(_COLUMNS, len(panels))
    figure, axes = plt.subplots(
        rows, columns, figsize=(7 * columns, 3.2 * rows), squeeze=False, layout="constrained"
    )
    figure.suptitle(title, fontsize=14, fontweight="bold")
    end = time.time()
    for index, panel in enumerate(panels):
        ax = axes[index // _COLUMNS][index % _COLUMNS]
        series = fetch_panel(panel, prometheus_url, minutes=minutes, end=end)
        _draw(ax, panel, series, mdates)
    for index in range(len(panels), rows * columns):
        axes[index // _COLUMNS][index % _COLUMNS].axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _draw(ax: Any, panel: PanelSpec, series: list[Series], mdates: Any) -> None:
    from datetime import datetime

    ax.set_title(panel.title, fontsize=10, loc="left")
    ax.set_ylabel(panel.unit, fontsize=8)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)
    if not series:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return
    peak = 0.0
    for item in series[:12]:  # a legend beyond a dozen series says nothing
        times = [datetime.fromtimestamp(t) for t in item.times]
        ax.plot(times, item.values, linewidth=1.2, label=item.label)
        finite = [v for v in item.values if v == v and abs(v) != float("inf")]
        peak = max([peak, *finite])
    for value, color in panel.thresholds:
        if value <= peak * 1.5:  # a far-off threshold would flatten the data
            ax.axhline(value, linestyle="--", linewidth=0.8, color=_THRESHOLD_COLORS.get(color))
    if panel.minimum is not None:
        ax.set_ylim(bottom=panel.minimum)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    ax.legend(fontsize=6, loc="upper left")


def render_dashboard(
    spec: DashboardSpec, prometheus_url: str, out_dir: Path, *, minutes: float = 15
) -> Path:
    main_panels = [panel for panel in spec.panels if panel.main]
    return render_panels(
        spec.title, main_panels, prometheus_url, out_dir / f"{spec.uid}.png", minutes=minutes
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m observability.preview",
        description="Render each dashboard's main panels to PNG from Prometheus data.",
    )
    parser.add_argument("--prometheus", required=True, help="Prometheus base URL")
    parser.add_argument("--out", type=Path, default=Path("previews"), help="output folder")
    parser.add_argument("--minutes", type=float, default=15, help="time range (default 15)")
    parser.add_argument(
        "--dashboard",
        action="append",
        choices=[spec.uid for spec in DASHBOARDS],
        help="only this dashboard (repeatable; default: all)",
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("--minutes must be a positive number of minutes")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("preview: matplotlib is missing; install the `observability` extra", file=sys.stderr)
        return 2
    chosen = [spec for spec in DASHBOARDS if not args.dashboard or spec.uid in args.dashboard]
    try:
        for spec in chosen:
            print(render_dashboard(spec, args.prometheus, args.out, minutes=args.minutes))
    except OSError as error:
        print(
            f"preview: cannot read from Prometheus at {args.prometheus}: {error}", file=sys.stderr
        )
        return 2
    except RuntimeError as error:
        print(f"preview: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
