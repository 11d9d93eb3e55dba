"""The ``shopwise`` command: one sub-command group per stage."""

from __future__ import annotations

import typer

from shopwise import __version__
from shopwise.cli import (
    audit,
    db,
    demo,
    drift,
    evaluate,
    events,
    experiments,
    intelligence,
    jobs,
    keys,
    kpis,
    messages,
    models,
    privacy,
    simulate,
    train,
    webhooks,
    worker,
)
from shopwise.cli._common import console, load_settings

app = typer.Typer(
    name="shopwise",
    help="shopwise: a self-hostable personalization engine for online shops.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(events.app, name="events")
app.add_typer(events.import_app, name="import")
app.add_typer(train.app, name="train")
app.add_typer(evaluate.app, name="evaluate")
app.add_typer(audit.app, name="audit")
app.add_typer(privacy.app, name="privacy")
app.add_typer(simulate.app, name="simulate")
app.add_typer(experiments.app, name="experiments")
app.add_typer(jobs.app, name="jobs")
app.add_typer(drift.app, name="drift")
app.add_typer(models.app, name="models")
app.add_typer(messages.app, name="messages")
app.add_typer(webhooks.app, name="webhooks")
intelligence.register(train.app, app)
app.command("demo")(demo.demo)
app.command("worker")(worker.worker)
app.command("kpis")(kpis.kpis)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (default SHOPWISE_HOST)."),
    port: int | None = typer.Option(None, help="Port (default SHOPWISE_PORT)."),
    workers: int = typer.Option(
        1, min=1, help="API processes on the one port, each with its own runtime."
    ),
) -> None:
    """Serve the HTTP API (migrating a new store first)."""
    from shopwise.cli.serve import prepare_runtime, run_server, run_workers

    settings = load_settings()
    if workers > 1:
        run_workers(settings, host or settings.host, port or settings.port, workers)
        return
    runtime = prepare_runtime(settings)
    run_server(settings, runtime, host or settings.host, port or settings.port)


@app.command()
def version() -> None:
    """Print the shopwise version."""
    console.print(__version__)
