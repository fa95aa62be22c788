"""Write (or check) the generated dashboards and rule files: `python -m observability.generate`.

`--check` writes nothing and exits 1 naming every file that differs from what the
definitions generate, so a stale commit fails loudly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .alerts import chart_rules_yaml, plain_rules_yaml
from .dashboards import DASHBOARDS, dashboard_json

__all__ = ["DASHBOARD_DIR", "generated_files", "main"]

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD_DIR = ROOT / "charts" / "queuefleet" / "files" / "dashboards"
CHART_RULES = ROOT / "charts" / "queuefleet" / "files" / "prometheus-rules" / "queuefleet.yaml"
PLAIN_RULES = ROOT / "observability" / "rules" / "queuefleet.rules.yaml"


def generated_files() -> dict[Path, str]:
    """Every generated file and the text it must hold."""
    files = {DASHBOARD_DIR / f"{spec.uid}.json": dashboard_json(spec) for spec in DASHBOARDS}
    files[CHART_RULES] = chart_rules_yaml()
    files[PLAIN_RULES] = plain_rules_yaml()
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m observability.generate")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    files = generated_files()
    # Dashboards no longer defined must not linger in the chart.
    stale = sorted(set(DASHBOARD_DIR.glob("*.json")) - set(files))
    changed = [path for path, text in files.items() if _read(path) != text]
    if args.check:
        for path in changed + stale:
            print(f"{path.relative_to(ROOT)} is out of date; run `make dashboards`")
        return 1 if changed or stale else 0
    for path in stale:
        path.unlink()
        print(f"removed {path.relative_to(ROOT)}")
    for path in changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
