"""``shopwise jobs list|show``: the worker's recorded job runs, from the shell.

Reads ``job_runs`` directly (see :mod:`shopwise.worker`): what ran, when, for how long, and what it
said (its result, its last progress message while it runs, its error or why it was skipped).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from shopwise.cli._common import console, fail, load_settings
from shopwise.errors import ShopwiseError

if TYPE_CHECKING:
    import sqlalchemy as sa

app = typer.Typer(help="Scheduled jobs: the worker's recent runs.", no_args_is_help=True)


@contextmanager
def _store() -> Iterator[sa.Engine]:
    """The configured store, migrated first; shopwise errors become one-line exits."""
    from shopwise import store

    engine = store.create_engine(load_settings())
    try:
        if not store.is_current(engine):
            store.upgrade(engine)
        yield engine
    except ShopwiseError as exc:
        fail(exc.message)
    finally:
        engine.dispose()


@app.command("list")
def list_runs(
    limit: int = typer.Option(20, "--limit", min=1, max=500, help="Runs shown, newest first."),
    job: str | None = typer.Option(None, "--job", help="Only this job's runs."),
) -> None:
    """Print the recent job runs: job, status, start, duration and what each said."""
    from shopwise.worker import recent_runs, run_summary

    with _store() as engine:
        runs = recent_runs(engine, limit, job)
    table = Table(
        "id", "job", "status", "started", "duration", "progress / error", title="job runs"
    )
    for run in runs:
        table.add_row(
            str(run["id"]),
            run["job"],
            run["status"],
            run["started_at"][:19].replace("T", " "),
            f"{run['duration_seconds']:.1f} s",
            run_summary(run),
        )
    console.print(table)


@app.command("show")
def show_run(
    run_id: int = typer.Argument(..., help="The run's id (see 'shopwise jobs list')."),
) -> None:
    """Print one job run as JSON, its full details included."""
    import orjson

    from shopwise.worker import job_run

    with _store() as engine:
        run = job_run(engine, run_id)
    typer.echo(orjson.dumps(run, option=orjson.OPT_INDENT_2).decode())
