"""``shopwise models list|show|promote|rollback``: the model registry from the shell.

Thin commands over :mod:`shopwise.worker`'s registry functions: every trained version with its
status (champion, previous champion, challenger the gate refused, retired), data window, holdout
metric, size and fit time; one version's full record; promotion of a version (overruling the
gate) and rollback to the previous champion, which serving processes pick up within seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from shopwise.cli._common import console, open_runtime

app = typer.Typer(help="The model registry: versions, champions, rollback.", no_args_is_help=True)

FAMILY_HELP = "recommenders, propensity, clv or segments."


def _day(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def _window(row: dict[str, Any]) -> str:
    window = row.get("data_window") or {}
    if not window:
        return ""
    return f"{_day(window.get('start_ms'))} to {_day(window.get('end_ms'))}"


def _holdout(row: dict[str, Any]) -> str:
    from shopwise.worker import GATE_METRIC

    metrics = row.get("holdout") or {}
    return "" if GATE_METRIC not in metrics else f"{metrics[GATE_METRIC]:.4f}"


def _size(row: dict[str, Any]) -> str:
    size = row.get("size_bytes")
    return "" if size is None else f"{size / 1e6:.1f} MB"


@app.command("list")
def list_versions(
    family: str | None = typer.Option(None, "--family", help=f"Only this family: {FAMILY_HELP}"),
) -> None:
    """Print every saved model version, the newest first within each family."""
    from shopwise.worker import GATE_METRIC, list_models

    with open_runtime(start=False) as runtime:
        rows = list_models(runtime, family)
    table = Table(
        "family",
        "version",
        "status",
        "model",
        "data window",
        f"holdout {GATE_METRIC}",
        "size",
        "fit s",
        "gate",
        title="model versions",
    )
    for row in rows:
        table.add_row(
            row["family"],
            row["version"],
            row["status"],
            row["model"] or "",
            _window(row),
            _holdout(row),
            _size(row),
            "" if row["fit_seconds"] is None else f"{row['fit_seconds']:.1f}",
            row["gate"] or "",
        )
    console.print(table)


@app.command("show")
def show_version(
    version: str = typer.Argument(..., help="The version (see 'shopwise models list')."),
    family: str = typer.Option("recommenders", "--family", help=FAMILY_HELP),
) -> None:
    """Print one version's full record as JSON: parameters, data window and fingerprint,
    holdout metrics, the gate's decision, size and training time."""
    import orjson

    from shopwise.worker import show_model

    with open_runtime(start=False) as runtime:
        record = show_model(runtime, family, version)
    typer.echo(orjson.dumps(record, option=orjson.OPT_INDENT_2).decode())


@app.command("promote")
def promote(
    version: str = typer.Argument(..., help="The version to make champion."),
    family: str = typer.Option("recommenders", "--family", help=FAMILY_HELP),
    reason: str = typer.Option("promoted by an operator", "--reason", help="Kept with it."),
) -> None:
    """Make a version the champion (a challenger the gate refused, say)."""
    from shopwise.worker import promote_model

    with open_runtime(start=False) as runtime:
        record = promote_model(runtime, family, version, reason)
        runtime.audit.record("cli", "model.promoted", f"{family}/{version}", {"reason": reason})
    _print_champion(family, record)


@app.command("rollback")
def rollback(
    family: str = typer.Option("recommenders", "--family", help=FAMILY_HELP),
    reason: str = typer.Option("rolled back by an operator", "--reason", help="Kept with it."),
) -> None:
    """Restore the previous champion at once."""
    from shopwise.worker import rollback_model

    with open_runtime(start=False) as runtime:
        record = rollback_model(runtime, family, reason)
        subject = f"{family}/{record['version']}"
        runtime.audit.record("cli", "model.rolled_back", subject, {"reason": reason})
    _print_champion(family, record)


def _print_champion(family: str, record: dict[str, Any]) -> None:
    console.print(f"{family} champion is now {record['version']} ({record['reason']})")
    if "precomputed" in record:
        lists = record["precomputed"]
        console.print(
            f"serving uses its precomputed lists {lists}"
            if lists
            else "no precomputed lists of it are kept: the worker's candidate refresh was "
            "asked to make them now"
        )
