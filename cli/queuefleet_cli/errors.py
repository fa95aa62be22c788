"""The one error type every subcommand raises for a user mistake (printed in one line)."""

from __future__ import annotations


class CommandError(Exception):
    """A user mistake or an unmet precondition: printed as one line, exit code 2."""
