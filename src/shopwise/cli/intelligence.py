"""``shopwise train propensity|clv|segments`` and ``shopwise audiences export``, with progress.

Each training command reads the consented events of the store, fits one customer-model family,
saves and promotes a new version, and refreshes the stored scores so the API serves them at once.
``audiences export`` writes the lookalike audience of the top predicted-CLV customers (SHA-256
hashed emails; people without advertising consent or who opted out of sale are never written) and
the bid multipliers per segment. :func:`register` adds the commands to the CLI's groups.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from shopwise.cli._common import console, open_runtime

audiences_app = typer.Typer(help="Export audiences for ad platforms.", no_args_is_help=True)


def _train(family: str) -> dict[str, Any]:
    from shopwise.cli._progress import progress_bar

    with open_runtime() as runtime, progress_bar() as bar:
        task = bar.add_task(f"training {family}", total=None)

        def progress(message: str) -> None:
            bar.update(task, description=message)

        result = runtime.customers.retrain([family], progress)
        bar.update(task, description="done", total=1, completed=1)
    return result


def _summary(result: dict[str, Any]) -> str:
    refresh = result["refresh"]
    return (
        f"version {result['version']}; scored {refresh['profiles']} profiles as of "
        f"{refresh['as_of']} (left out without consent: "
        f"{result['excluded_events_without_consent']} events)"
    )


def propensity() -> None:
    """Train the calibrated purchase, discount-response and churn propensity models."""
    result = _train("propensity")
    for name, info in result["labels"].items():
        console.print(
            f"{name}: {info['rows']} rows, {info['positives']} positive, "
            f"{info['calibration']} calibration"
        )
    for name, reason in result["skipped"].items():
        console.print(f"{name}: skipped ({reason})")
    console.print(_summary(result))


def clv() -> None:
    """Train BG/NBD + Gamma-Gamma and the gradient-boosted lifetime-value model."""
    result = _train("clv")
    console.print(
        f"BG/NBD on {result['buyers']} buyers ({result['repeat_buyers']} repeat); "
        f"Gamma-Gamma: {'fitted' if result['gamma_gamma'] else 'too few repeat buyers'}; "
        f"GBM: {result['gbm']}"
    )
    console.print(_summary(result))


def segments() -> None:
    """Train the K-Means segmentation (k chosen by silhouette) and refresh memberships."""
    result = _train("segments")
    scores = ", ".join(f"{k}: {v:.3f}" for k, v in result["silhouettes"].items())
    console.print(f"k = {result['k']} (silhouette by k: {scores})")
    for name, size in result["segments"].items():
        console.print(f"  {name}: {size}")
    console.print(_summary(result))


@audiences_app.command("export")
def export(
    output: Path = typer.Option(Path("lookalike.csv"), help="Lookalike audience CSV."),
    bids: Path | None = typer.Option(Path("bids.csv"), help="Bid multipliers CSV."),
    top_n: int = typer.Option(1000, min=1, help="Most lookalike rows written."),
    seed_share: float = typer.Option(0.1, min=0.001, max=0.999, help="Top CLV share as seed."),
) -> None:
    """Write the lookalike audience (hashed emails, ad-consenting only) and the bids as CSV."""
    from shopwise.cli._progress import progress_bar

    with open_runtime() as runtime, progress_bar() as bar:
        task = bar.add_task("scoring lookalikes", total=1)
        service = runtime.customers
        result = service.audiences.lookalikes(
            service.frames(), output, bids, top_n=top_n, seed_share=seed_share
        )
        details = {"export_id": result["export_id"], "rows": result["rows"]}
        runtime.audit.record("cli", "audience.exported", "lookalike", details)
        bar.update(task, description="done", completed=1)
    console.print(
        f"wrote {result['rows']} lookalike rows to {output} (seed {result['seed']} profiles, "
        f"{result['candidates']} candidates)"
    )
    if bids is not None:
        console.print(f"wrote {result['bid_rows']} bid rows to {bids}")


def register(train_app: typer.Typer, root_app: typer.Typer) -> None:
    """Add ``propensity``, ``clv`` and ``segments`` to ``train`` and ``audiences`` to the root."""
    train_app.command("propensity")(propensity)
    train_app.command("clv")(clv)
    train_app.command("segments")(segments)
    root_app.add_typer(audiences_app, name="audiences")
