"""``shopwise train``: train models from the event store, with progress."""

from __future__ import annotations

from typing import Any

import typer

from shopwise.cli._common import console, fail, open_runtime

app = typer.Typer(help="Train models from the event store.", no_args_is_help=True)


@app.command()
def recommenders(
    model: str = typer.Option(
        "shopwise", help="shopwise (candidates + ranker), transition or popular."
    ),
) -> None:
    """Train the recommender on consented events; it becomes the serving champion unless the
    champion/challenger gate finds it worse on the shop's recent data."""
    from shopwise.cli._progress import progress_bar
    from shopwise.recommend.training import RECIPES
    from shopwise.worker import train_recommenders

    if model not in RECIPES:
        fail(f"--model must be one of {', '.join(RECIPES)}, not {model!r}")
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
    for line in fit_lines(result.get("fit_report")):
        console.print(line)
    console.print(f"similar items: {result['similar']}; complementary: {result['complements']}")
    verdict = "promoted to champion" if result["promoted"] else "kept as a challenger"
    console.print(f"{verdict}: {result['gate']}")


def fit_lines(report: dict[str, Any] | None) -> list[str]:
    """The pipeline's own validation, in words: its ranker's list against each generator's on
    held-out queries, and what the blend guard chose to serve."""
    if not report or report.get("blend") is None:
        return []
    blend = report["blend"]
    metrics: dict[str, dict[str, float]] = blend["metrics"]
    key = next((k for k in ("NDCG@10", "HR@10") if k in metrics.get("ranker", {})), None)
    if key is None:
        return []
    generators = {n: m[key] for n, m in metrics.items() if n not in ("ranker", "final")}
    best = max(generators, key=generators.__getitem__) if generators else None
    lines = [
        f"validation ({blend['queries']} held-out queries, {report['scheme']}): {key} ranker"
        f" {metrics['ranker'][key]:.4f}"
        + ("" if best is None else f", best generator {best} {generators[best]:.4f}")
    ]
    if blend["generator"] is None:
        lines.append("serving the ranker's list (it beats every generator)")
    else:
        lines.append(
            f"serving a blend: the ranker's first {blend['head']} items, then"
            f" {blend['generator']}'s ({key} {metrics['final'][key]:.4f})"
        )
    return lines
