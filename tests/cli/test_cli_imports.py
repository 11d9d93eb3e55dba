"""The CLI starts light: listing commands never imports the stack the commands themselves use.

Pins the lazy imports of ``shopwise.cli``: ``shopwise --help``, ``shopwise <group> --help`` and
``shopwise version`` leave the store, the serving stack, the settings and the data and model
libraries unimported; they load inside the commands that need them. It also pins the two help
texts that are filled in late (``--model`` names the evaluation registry, the import files name
the record formats), so deferring them never changes what a user reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from shopwise.cli import app

HEAVY = (
    "fastapi",
    "lightgbm",
    "numpy",
    "pandas",
    "pyarrow",
    "pydantic_settings",
    "scipy",
    "sklearn",
    "sqlalchemy",
    "torch",
    "uvicorn",
    "shopwise.api",
    "shopwise.evaluate",
    "shopwise.records",
    "shopwise.runtime",
    "shopwise.settings",
    "shopwise.store",
)
"""Modules a help screen must not import (a prefix also covers its submodules)."""

GROUPS = ("db", "keys", "events", "import", "train", "evaluate", "audiences")

# Runs the CLI's own entry point in a fresh interpreter, then writes what got imported to a file
# (stdout carries the help screen).
_PROBE = """
import json, sys
from pathlib import Path
out, sys.argv = Path(sys.argv[1]), ["shopwise", *sys.argv[2:]]
try:
    from shopwise.cli import main
    if len(sys.argv) > 1:
        main()
finally:
    out.write_text(json.dumps(sorted(sys.modules)))
"""


def _loaded_after(args: list[str], tmp_path: Path) -> set[str]:
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(out.read_text()))


@pytest.mark.parametrize(
    "args",
    [[], ["--help"], ["version"]] + [[group, "--help"] for group in GROUPS],
    ids=lambda args: " ".join(args) or "import",
)
def test_listing_the_cli_leaves_heavy_modules_unimported(args: list[str], tmp_path: Path) -> None:
    loaded = _loaded_after(args, tmp_path)
    heavy = sorted(
        name for name in loaded for root in HEAVY if name == root or name.startswith(root + ".")
    )
    assert heavy == [], f"'shopwise {' '.join(args)}' imported {heavy}"


def _help(*path: str) -> dict[str, str | None]:
    """The help of every parameter of one command, as click hands it to the help screen."""
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    with typer.Context(command) as ctx:
        return {param.name or "": getattr(param, "help", None) for param in command.get_params(ctx)}


@pytest.mark.parametrize("command", ["next-item", "sessions", "temporal"])
def test_evaluate_model_help_lists_the_registry(command: str) -> None:
    from shopwise.evaluate import REGISTRY

    assert _help("evaluate", command)["model"] == f"Registered model: {', '.join(REGISTRY)}."


def test_import_file_help_lists_the_record_formats() -> None:
    from shopwise.records import FORMATS

    formats = ", ".join(FORMATS)
    assert _help("import", "events")["file"] == f"Events as {formats}."
    assert _help("import", "catalog")["file"] == f"Products as {formats}."
