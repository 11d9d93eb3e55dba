"""``shopwise events`` (dead letters) and ``shopwise import`` (bulk files)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from shopwise.cli._common import console, fail, open_runtime
from shopwise.cli._deferred import deferred_help
from shopwise.errors import ShopwiseError

if TYPE_CHECKING:
    from shopwise.collect import ImportSummary

app = typer.Typer(help="Event log: dead letters and replay.", no_args_is_help=True)
import_app = typer.Typer(help="Bulk imports.", no_args_is_help=True)


def _formats_help(what: str) -> str:
    # the record readers (pyarrow) load with the help text that names their formats
    from shopwise.records import FORMATS

    return f"{what} as {', '.join(FORMATS)}."


@app.command("dead-letters")
def dead_letters(
    replay: bool = typer.Option(False, "--replay", help="Re-validate and ingest the pending ones."),
    include_replayed: bool = typer.Option(False, "--all", help="Also list replayed ones."),
    limit: int = typer.Option(100, min=1, help="How many to list."),
) -> None:
    """List rejected events with their reasons, or replay them after a fix."""
    with open_runtime() as runtime:
        if replay:
            result = runtime.dead_letters.replay()
            console.print(
                f"replayed {result.replayed}, duplicates {result.duplicates}, "
                f"still invalid {result.still_invalid}"
            )
            return
        letters = runtime.dead_letters.list(include_replayed=include_replayed, limit=limit)
    table = Table("id", "code", "message", "raw", "replayed")
    for letter in letters:
        table.add_row(
            str(letter.id),
            letter.code,
            letter.message,
            letter.raw[:80],
            str(letter.replayed_at or ""),
        )
    console.print(table)


def print_summary(summary: ImportSummary) -> None:
    console.print(
        f"read {summary.read}: accepted {summary.accepted}, duplicates {summary.duplicates}, "
        f"rejected {summary.rejected} (see 'shopwise events dead-letters')"
    )
    for rejection in summary.examples:
        console.print(f"  #{rejection.index} {rejection.code}: {rejection.message}", markup=False)


@import_app.command("events", cls=deferred_help(file=lambda: _formats_help("Events")))
def import_events_command(
    file: Path = typer.Argument(...),
) -> None:
    """Import an event file with the same validation and dedupe as the API."""
    from shopwise.cli._progress import progress_bar
    from shopwise.collect import import_events, read_events
    from shopwise.records import count_records

    try:
        events = read_events(file)
        total = count_records(file)
    except ShopwiseError as exc:
        fail(exc.message)
    with open_runtime() as runtime, progress_bar() as bar:
        task = bar.add_task(f"importing {file.name}", total=total)
        summary = import_events(runtime.collector, events, lambda n: bar.advance(task, n))
    print_summary(summary)


@import_app.command("catalog", cls=deferred_help(file=lambda: _formats_help("Products")))
def import_catalog_command(
    file: Path = typer.Argument(...),
) -> None:
    """Import products (all rows of a chunk valid, or the import stops at the bad one)."""
    from shopwise.catalog import MAX_UPSERT
    from shopwise.cli._progress import progress_bar
    from shopwise.records import count_records, read_records

    try:
        rows = read_records(file, ("category", "tags", "attributes"))
        total = count_records(file)
    except ShopwiseError as exc:
        fail(exc.message)
    created = updated = 0
    with open_runtime(start=False) as runtime, progress_bar() as bar:
        task = bar.add_task(f"importing {file.name}", total=total)
        for chunk in _chunks(rows, MAX_UPSERT):
            result = runtime.catalog.upsert(chunk)
            created, updated = created + result.created, updated + result.updated
            bar.advance(task, len(chunk))
    console.print(f"products: {created} created, {updated} updated")


def _chunks(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(rows, size)):
        yield chunk


@import_app.command("uci")
def import_uci_command(
    file: Path = typer.Argument(..., help="online_retail.parquet of the UCI Online Retail data."),
) -> None:
    """Import the UCI Online Retail file as catalog rows and order/refund events."""
    from shopwise.cli.demo import load_shop
    from shopwise.collect.adapters import read_uci

    if not file.is_file():
        fail(f"FILE: {file} does not exist")
    with console.status("converting invoices"):
        converted = read_uci(file)
    console.print(converted.report.summary(), markup=False)
    with open_runtime() as runtime:
        counts = load_shop(runtime, converted)
    console.print(
        f"events accepted {counts['accepted']}, duplicates {counts['duplicates']}, "
        f"rejected {counts['rejected']}"
    )
