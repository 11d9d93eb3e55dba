"""The ``shopwise`` command line."""

import sys

import typer
from typer.exceptions import TyperException

from shopwise.cli._main import app


def main() -> None:
    """Run the CLI; a usage error is one line on stderr and exit status 2."""
    try:
        code = app(standalone_mode=False)
    except TyperException as exc:  # typer's click errors: usage errors, bad parameters
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if message:  # empty when the help was shown for a bare command
            print(f"error: {message}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
