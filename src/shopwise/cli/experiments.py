"""``shopwise experiments create|list|start|stop``: experiments from the shell.

The commands work on the store directly (running servers see a change within their refresh);
every change is audited as made from the command line. A definition file is YAML or JSON with
the fields of :class:`shopwise.experiments.ExperimentSpec` (see the README's "Experiments").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from shopwise.cli._common import console, fail, load_settings
from shopwise.errors import ShopwiseError

if TYPE_CHECKING:
    from shopwise.experiments import Experiment, Experiments

app = typer.Typer(
    help="Experiments: A/B tests and bandits over the served answers.", no_args_is_help=True
)

ACTOR = "cli"


@contextmanager
def _experiments() -> Iterator[Experiments]:
    """The experiments of the configured store (migrated first); shopwise errors become
    one-line exits."""
    from shopwise import store
    from shopwise.decide import content_store, rule_store
    from shopwise.experiments import Experiments, References
    from shopwise.registry import ModelRegistry

    settings = load_settings()
    engine = store.create_engine(settings)
    try:
        if not store.is_current(engine):
            store.upgrade(engine)
        recommenders = ModelRegistry(settings.models_dir, "recommenders")
        references = References(recommenders, rule_store(engine), content_store(engine))
        yield Experiments(engine, references=references)
    except ShopwiseError as exc:
        fail(exc.message)
    finally:
        engine.dispose()


def _changed(action: str, change: Callable[[Experiments], Experiment]) -> Experiment:
    """Run ``change`` and audit it as ``action`` on the experiment it returns."""
    from shopwise.audit import AuditLog

    with _experiments() as experiments:
        experiment = change(experiments)
        AuditLog(experiments.engine).record(ACTOR, action, experiment.id)
    return experiment


def _weights(experiment: Experiment) -> str:
    return ", ".join(f"{name} {share:.0%}" for name, share in experiment.shares().items())


@app.command()
def create(
    file: Path = typer.Option(..., "--file", help="The definition: a YAML or JSON file."),
) -> None:
    """Store an experiment from a definition file, as a draft."""
    from shopwise.experiments import parse_spec

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
    try:
        spec = parse_spec(text)
    except ShopwiseError as exc:
        fail(f"{file}: {exc.message}")
    created = _changed("experiment.created", lambda experiments: experiments.create(spec))
    console.print(f"created {created.id} (draft): {_weights(created)}")


@app.command("list")
def list_experiments(
    status: str | None = typer.Option(None, "--status", help="draft | running | stopped"),
) -> None:
    """Print every experiment, the newest first."""
    if status not in (None, "draft", "running", "stopped"):
        fail(f"--status takes draft, running or stopped, not {status!r}")
    wanted: Any = status  # one of the statuses, checked above
    with _experiments() as experiments:
        found = experiments.list(wanted)
    table = Table("id", "kind", "status", "placements", "split", "primary", title="experiments")
    for experiment in found:
        table.add_row(
            experiment.id,
            experiment.kind,
            experiment.status,
            ", ".join(experiment.placements) or "all",
            _weights(experiment),
            experiment.primary_metric,
        )
    console.print(table)


@app.command()
def start(experiment_id: str = typer.Argument(..., help="The experiment's id.")) -> None:
    """Start a draft: shoppers are assigned from now on."""
    _changed("experiment.started", lambda experiments: experiments.start(experiment_id))
    console.print(f"started {experiment_id}")


@app.command()
def stop(experiment_id: str = typer.Argument(..., help="The experiment's id.")) -> None:
    """Stop a running experiment: nobody is assigned any more."""
    _changed("experiment.stopped", lambda experiments: experiments.stop(experiment_id))
    console.print(f"stopped {experiment_id}")


# ``shopwise experiments report ID`` (results, plots) is added below by the results' author.


@app.command()
def report(
    experiment_id: str = typer.Argument(..., help="The experiment's id."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for report.md/.json/.png/.html."),
    look_minutes: int = typer.Option(
        1440, "--look-minutes", min=1, max=10_080, help="Minutes between the sequential looks."
    ),
) -> None:
    """Write an experiment's results: the decision, every metric, and the cumulative effect plot."""
    import time

    from shopwise.experiments import results_of, write_report
    from shopwise.privacy import ConsentPolicy

    settings = load_settings()
    now_ms = int(time.time() * 1000)
    with _experiments() as experiments:
        experiment = experiments.get(experiment_id)
        _check_looks(experiment, now_ms, look_minutes)
        found = results_of(
            experiments.engine,
            experiment,
            policy=ConsentPolicy.from_settings(settings),
            now_ms=now_ms,
            window_hours=settings.attribution_window_hours,
            look_ms=look_minutes * 60_000,
        )
    try:
        paths = write_report(found, out)
    except OSError as exc:
        fail(f"cannot write the report into {out}: {exc}")
    console.print(f"{experiment_id}: {found.decision}")
    for path in paths:
        console.print(f"wrote {path}")


def _check_looks(experiment: Experiment, now_ms: int, look_minutes: int) -> None:
    """Exit 2 when ``--look-minutes`` cuts the experiment into more looks than results take
    (:data:`shopwise.experiments.MAX_LOOKS`), saying the option's smallest value."""
    from shopwise.experiments import MAX_LOOKS

    if experiment.started_at is None:
        return  # no results yet: results_of says so
    span_ms = (experiment.stopped_at or now_ms) - experiment.started_at
    looks = span_ms // (look_minutes * 60_000) + 1
    if looks > MAX_LOOKS:
        shortest = -(-span_ms // (MAX_LOOKS * 60_000))
        fail(
            f"--look-minutes: {look_minutes} gives {looks} looks over this experiment; at most"
            f" {MAX_LOOKS} (use at least {shortest})"
        )
