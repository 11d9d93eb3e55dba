"""The ``shopwise`` command line."""

from shopwise.cli._main import app


def main() -> None:
    app()


__all__ = ["app", "main"]
