"""``shopwise train``: train models from the event store, with progress."""

from __future__ import annotations

import typer

from shopwise.cli._common import console, fail, open_runtime

app = typer.Typer(help="Train models from the event store.", no_args_is_help=True)


@app.command()
def recommenders(
    model: str = typer.Option("shopwise", help="shopwise (candidates + ranker) or transition."),
) -> None:
    """Train the recommender on consented events and make it the serving champion."""
    from shopwise.cli._progress import progress_bar
    from shopwise.worker import train_recommenders

    if model not in ("shopwise", "transition"):
        fail(f"--model must be 'shopwise' or 'transition', not {model!r}")
    with open_runtime() as runtime, progress_bar() as bar:
        task = bar.add_task("training", total=None)

        def progress(message: str) -> None:
            bar.update(task, description=message)

        result = train_recommenders(runtime, model, progress)
        bar.update(task, description="done", total=1, completed=1)
    console.print(
        f"trained {result['model']} version {result['version']}: {result['interactions']} "
        f"interactions, {result['profiles']} profiles, {result['items']} items, "
        f"{result['fit_seconds']} s (left out without consent: "
        f"{result['excluded_events_without_consent']})"
    )
