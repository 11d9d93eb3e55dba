"""``shopwise evaluate``: offline evaluation of any registered model on a public protocol.

Three commands, one per protocol (``next-item``, ``sessions``, ``temporal``), each printing a
metrics table and optionally writing the JSON contract other tools read:
``{"task", "dataset", "model", "params", "metrics", "users" | "examples", "fit_seconds",
"predict_seconds", "peak_rss_mb", ...}``. Bad input ends with exit status 2 and one line on
stderr. The event-store variant of ``temporal`` (``--store``) waits for the event store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from shopwise.cli._deferred import deferred_help

# The harness (datasets, models, the store) loads when an evaluation runs, not when the CLI starts.
if TYPE_CHECKING:
    from rich.progress import Progress

    from shopwise.evaluate import Evaluation, EventLog, RunOptions

app = typer.Typer(
    name="evaluate",
    help="Offline evaluation on public protocols (next-item, sessions, temporal).",
    no_args_is_help=True,
    add_completion=False,
)

EVENTS_HELP = "UCI Online Retail parquet, or CSV/parquet with user_id, product_id, timestamp."


def _model_help() -> str:
    from shopwise.evaluate import REGISTRY

    return f"Registered model: {', '.join(REGISTRY)}."


# --model's help lists the registry, read when one of these commands parses or shows its help
EvaluateCommand = deferred_help(model=_model_help)

ModelOption = Annotated[str, typer.Option("--model")]
JsonOption = Annotated[
    Path | None, typer.Option("--json", help="Write the JSON result to this file.")
]
ParamsOption = Annotated[
    str | None,
    typer.Option("--params", help="JSON object of fixed model parameters (skips tuning)."),
]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of every sample drawn.")]
QuietOption = Annotated[bool, typer.Option("--quiet", help="No progress bars or table.")]
ValidOption = Annotated[
    int, typer.Option("--max-valid-queries", min=1, help="Validation queries per grid point.")
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise _fail(f"{what} file not found: {path}")
    return path


def _options(model: str, params: str | None, seed: int, max_valid: int) -> RunOptions:
    from shopwise.evaluate import RunOptions

    fixed: dict[str, Any] | None = None
    if params is not None:
        try:
            loaded = json.loads(params)
        except json.JSONDecodeError as error:
            raise _fail(f"--params is not valid JSON: {error}") from None
        if not isinstance(loaded, dict):
            raise _fail("--params must be a JSON object")
        fixed = loaded
    return RunOptions(model=model, params=fixed, seed=seed, max_valid_queries=max_valid)


def _show(result: Evaluation, console: Console) -> None:
    from rich.table import Table

    table = Table(title=f"{result.model} on {result.dataset} ({result.task})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result.metrics.items():
        table.add_row(name, f"{value:.4f}")
    console.print(table)
    console.print(
        f"{result.count_key}={result.count} params={json.dumps(result.params)} "
        f"fit={result.fit_seconds:.1f}s predict={result.predict_seconds:.1f}s "
        f"peak_rss={result.peak_rss_mb:.0f}MiB"
    )


def _run(work: Callable[[Progress | None], Evaluation], json_out: Path | None, quiet: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from shopwise.evaluate import EvaluationInputError

    console = Console(stderr=True)
    try:
        if quiet:
            result = work(None)
        else:
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=console, transient=True) as progress:
                result = work(progress)
    except EvaluationInputError as error:
        raise _fail(str(error)) from None
    except ValueError as error:  # config validation of --params, model refusals
        raise _fail(" ".join(str(error).split())) from None
    if json_out is not None:
        try:
            json_out.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
        except OSError as error:
            raise _fail(f"cannot write {json_out}: {error}") from None
    if not quiet:
        _show(result, Console())


@app.command("next-item", cls=EvaluateCommand)
def next_item(
    sequences: Annotated[
        Path, typer.Option("--sequences", help="S3-Rec sequences.txt: 'user item item ...'.")
    ],
    attributes: Annotated[
        Path | None, typer.Option("--attributes", help="item_attributes.json (optional).")
    ] = None,
    model: ModelOption = "popular",
    json_out: JsonOption = None,
    params: ParamsOption = None,
    seed: SeedOption = 0,
    max_valid: ValidOption = 10_000,
    quiet: QuietOption = False,
) -> None:
    """Next-item full ranking, leave-one-out; parameters chosen on the validation target."""
    from shopwise.evaluate import run_next_item

    _existing(sequences, "sequences")
    if attributes is not None:
        _existing(attributes, "attributes")
    options = _options(model, params, seed, max_valid)
    _run(lambda progress: run_next_item(sequences, attributes, options, progress), json_out, quiet)


@app.command("sessions", cls=EvaluateCommand)
def sessions(
    train: Annotated[Path, typer.Option("--train", help="One training session per line.")],
    test: Annotated[Path, typer.Option("--test", help="'next_item<TAB>prefix' per line.")],
    model: ModelOption = "popular",
    json_out: JsonOption = None,
    params: ParamsOption = None,
    seed: SeedOption = 0,
    max_valid: ValidOption = 10_000,
    quiet: QuietOption = False,
) -> None:
    """SR-GNN session protocol: rank all items per test prefix (P@20 = HR@20, MRR@20)."""
    from shopwise.evaluate import run_sessions

    _existing(train, "train")
    _existing(test, "test")
    options = _options(model, params, seed, max_valid)
    _run(lambda progress: run_sessions(train, test, options, progress), json_out, quiet)


@app.command("temporal", cls=EvaluateCommand)
def temporal(
    events: Annotated[
        Path | None,
        typer.Option("--events", help=EVENTS_HELP),
    ] = None,
    store: Annotated[
        bool, typer.Option("--store", help="Use the configured event store instead of a file.")
    ] = False,
    cutoff: Annotated[
        str | None, typer.Option("--cutoff", help="YYYY-MM-DD; default: 80% of events.")
    ] = None,
    model: ModelOption = "popular",
    json_out: JsonOption = None,
    params: ParamsOption = None,
    seed: SeedOption = 0,
    max_valid: ValidOption = 10_000,
    quiet: QuietOption = False,
) -> None:
    """Temporal split: train before the cutoff, rank what each user did new after it."""
    from shopwise.evaluate import EvaluationInputError, parse_cutoff, run_temporal

    if (events is None) == (not store):
        raise _fail("give exactly one of --events FILE or --store")
    options = _options(model, params, seed, max_valid)
    try:
        when = parse_cutoff(cutoff)
    except EvaluationInputError as error:
        raise _fail(str(error)) from None
    if events is not None:
        _existing(events, "events")
        _run(lambda progress: run_temporal(events, when, options, progress), json_out, quiet)
        return
    log = _store_log()
    _run(lambda progress: run_temporal(log, when, options, progress, "store"), json_out, quiet)


def _store_log() -> EventLog:
    """The configured store's consented interactions (SHOPWISE_* settings)."""
    from shopwise.cli._common import load_settings
    from shopwise.evaluate import EvaluationInputError, store_event_log
    from shopwise.runtime import Runtime

    runtime = Runtime.build(load_settings())
    try:
        return store_event_log(runtime.engine, runtime.catalog, runtime.consent)
    except EvaluationInputError as error:
        raise _fail(str(error)) from None
    finally:
        runtime.engine.dispose()


if __name__ == "__main__":
    app()
