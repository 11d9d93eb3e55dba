"""What every command shares: settings from the environment, the runtime, one-line failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

from shopwise.errors import ShopwiseError

# Every command module imports this one when the CLI starts (--help included), so the settings
# (pydantic) and the runtime (store, models, serving) are imported by the functions that use them.
if TYPE_CHECKING:
    from shopwise.runtime import Runtime
    from shopwise.settings import Settings

console = Console()
err_console = Console(stderr=True)
KEY_ENV = "SHOPWISE_API_KEY"
"""Where ``shopwise simulate traffic`` reads its API key when ``--key`` is not given (the demo
passes it there, not on a command line)."""


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit with status 2 (bad input or state)."""
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def load_settings() -> Settings:
    from pydantic import ValidationError

    from shopwise.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        fail(f"invalid setting SHOPWISE_{field.upper()}: {first['msg']}")


@contextmanager
def open_runtime(migrate: bool = True, start: bool = True) -> Iterator[Runtime]:
    """A started runtime for one command; shopwise errors become one-line exits."""
    from shopwise.runtime import Runtime

    runtime = Runtime.build(load_settings(), migrate=migrate)
    try:
        if start:
            runtime.start()
        yield runtime
    except ShopwiseError as exc:
        fail(exc.message)
    finally:
        runtime.stop()
