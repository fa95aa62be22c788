"""Options shaped like the Temporal CLI's: -w/-r/-t/-i, --input-file, -o, Go-style durations,
and the deprecated forms of this release (positional ids, `--id`, `--input FILE`), which
still work but print one warning line on stderr."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from queuefleet_cli.errors import CommandError

__all__ = [
    "OUTPUT_FORMATS",
    "DeprecatedAlias",
    "add_input_arguments",
    "add_output_argument",
    "add_target_arguments",
    "parse_duration",
    "read_input",
    "resolve_positional",
    "warn_deprecated",
]

OUTPUT_FORMATS: Final = ("text", "json", "jsonl")
# The release that drops the deprecated forms, named in every warning.
REMOVED_IN: Final = "0.3"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> timedelta:
    """`90s`, `1h30m`, `500ms`, `2d` or plain seconds (`90`, `1.5`) as a positive timedelta."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION_PART.findall(value)
        if not parts or "".join(number + unit for number, unit in parts) != value:
            raise argparse.ArgumentTypeError(
                f"invalid duration {text!r}: use e.g. 90s, 5m, 1h30m or a number of seconds"
            ) from None
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if not seconds > 0 or seconds != seconds:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: must be positive")
    return timedelta(seconds=seconds)


def warn_deprecated(old: str, new: str) -> None:
    print(
        f"queuefleet: warning: {old} is deprecated and goes away in {REMOVED_IN}; use {new}",
        file=sys.stderr,
    )


class DeprecatedAlias(argparse.Action):
    """An old option spelling that stores into the new option's dest and warns once."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, use: str, **kwargs: Any):
        self.use = use
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        warn_deprecated(option_string or self.option_strings[0], self.use)
        setattr(namespace, self.dest, values)


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=OUTPUT_FORMATS,
        default="text",
        help="text for people (default), json (one document) or jsonl (one object a line)",
    )


def add_target_arguments(
    parser: argparse.ArgumentParser, *, positional: bool = True, run_id: bool = True
) -> None:
    """-w/--workflow-id and -r/--run-id, plus this release's deprecated positional id."""
    parser.add_argument("-w", "--workflow-id", dest="workflow_id", help="workflow id")
    if run_id:
        parser.add_argument(
            "-r", "--run-id", dest="run_id", help="run id (default: the latest run)"
        )
    if positional:
        parser.add_argument(
            "legacy_workflow_id",
            nargs="?",
            metavar="WORKFLOW_ID",
            help="deprecated: use -w/--workflow-id",
        )


def resolve_positional(
    args: argparse.Namespace, folds: Sequence[tuple[str, str, str]], *, required: bool = True
) -> None:
    """Fold deprecated positionals into their options (one warning for all); require each.

    `folds` holds (positional dest, option dest, option flag) triples.
    """
    old, new = [], []
    for legacy, option, flag in folds:
        value = getattr(args, legacy, None)
        if value is not None:
            if getattr(args, option, None) not in (None, value):
                raise CommandError(
                    f"{flag} and the positional {value!r} disagree; give only {flag}"
                )
            setattr(args, option, value)
            old.append(option.upper())
            new.append(f"{flag.split('/')[0]} {value}")
    if old:
        warn_deprecated(f"the positional {' '.join(old)}", " ".join(new))
    for _, option, flag in folds:
        if required and not getattr(args, option, None):
            raise CommandError(f"{flag} is required")


def add_input_arguments(parser: argparse.ArgumentParser, *, what: str = "argument") -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-i", "--input", help=f"the {what} as JSON, e.g. '{{\"key\": 1}}'")
    group.add_argument(
        "--input-file", metavar="PATH", help=f"the {what} from a .json/.yaml file, or - for stdin"
    )


def read_input(args: argparse.Namespace) -> Any | None:
    """The document from -i/--input or --input-file, or None when neither is given."""
    from .common import load_document

    if args.input_file is not None:
        return load_document(args.input_file, what="input")
    if args.input is None:
        return None
    try:
        return json.loads(args.input)
    except json.JSONDecodeError as error:
        text = args.input.strip()
        if text == "-" or (not text.startswith(("{", "[", '"')) and Path(text).is_file()):
            warn_deprecated(f"--input {text}", f"--input-file {text}")
            return load_document(text, what="input")
        raise CommandError(
            f"--input is not valid JSON: {error.msg} at line {error.lineno} column "
            f"{error.colno} (to read a file, use --input-file)"
        ) from None
