"""``shopwise drift report``: compare the champion's training window with the recent events.

Runs one drift check (:class:`shopwise.drift.DriftMonitor`) and prints every feature's statistics
and verdict; the report (JSON and PNG) is saved under ``<data_dir>/drift/<time>/`` or ``--out``.
It only reports: requesting a retraining and the webhook are the worker's ``drift-check`` job.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from shopwise.cli._common import console, open_runtime

if TYPE_CHECKING:
    from shopwise.drift import DriftReport, FeatureDrift

app = typer.Typer(
    help="Drift of the inputs, event mix and scores since training.", no_args_is_help=True
)


def _statistic(feature: FeatureDrift) -> str:
    """The test that decides besides the PSI: KS D and p, Wasserstein, or chi-square's V and p."""
    s = feature.statistics
    if not s:
        return "-"
    if feature.kind == "categorical":
        return f"V {s['cramers_v']:.3f} (p {s['chi2_p_value']:.2g})"
    return f"D {s['ks_statistic']:.3f} (p {s['ks_p_value']:.2g}), W {s['wasserstein']:.3f}"


def _verdict(feature: FeatureDrift) -> str:
    if feature.drifted is None:
        return str(feature.summary.get("baseline", "too few values"))
    return f"[red]drift[/red] ({', '.join(feature.fired)})" if feature.drifted else "ok"


def _table(report: DriftReport) -> Table:
    reference, recent = report.reference.to_dict(), report.recent.to_dict()
    title = (
        f"drift: reference {reference['start'][:16]} to {reference['end'][:16]} "
        f"vs recent {recent['start'][:16]} to {recent['end'][:16]}"
    )
    table = Table("feature", "group", "n ref", "n recent", "PSI", "test", "verdict", title=title)
    for feature in report.features:
        psi = feature.statistics.get("psi")
        table.add_row(
            feature.name,
            feature.group,
            str(feature.n_reference),
            str(feature.n_recent),
            "-" if psi is None else f"{psi:.3f}",
            _statistic(feature),
            _verdict(feature),
        )
    return table


@app.command("report")
def report(
    recent_days: float | None = typer.Option(
        None, "--recent-days", min=0.01, max=365, help="Days of recent events (default 7)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder to save the report in (default <data_dir>/drift)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Compare the recent events with the champion's training window; print and save the report."""
    import orjson

    from shopwise.worker import drift_monitor

    with open_runtime(start=False) as runtime:
        checked = drift_monitor(runtime, out).check(recent_days)
    if as_json:
        typer.echo(orjson.dumps(checked.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    console.print(_table(checked))
    files = checked.files() or {}
    console.print(
        f"verdict: {checked.verdict}; report {files.get('json')}, plot {files.get('png')}"
    )
