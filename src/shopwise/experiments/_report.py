"""An experiment's report: the results as JSON and markdown, and a plot of the cumulative effect of
the primary metric per day with its always-valid interval (PNG, and an HTML page embedding it).

The report leads with the decision of the sequential test (the one that may be read every day),
then the sample ratio check, the arms, and every metric per variant. A bandit's report leads with
its posterior read instead: each arm's reward rate with its credible interval, chance of being
best, expected loss and share of the traffic, and its plot draws the arms' posteriors. The plot is
drawn on a
matplotlib ``Figure`` with the Agg canvas, never through ``pyplot``, so no global backend or
figure state is touched in a server or a test.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from shopwise.experiments._bandit import BanditResults
from shopwise.experiments._results import Comparison, ExperimentResults

if TYPE_CHECKING:
    from matplotlib.axes import Axes

FILES: Final = ("report.md", "report.json", "report.png", "report.html")


def report_json(results: ExperimentResults) -> str:
    """The results as indented JSON."""
    return json.dumps(results.to_dict(), indent=2, sort_keys=False)


def report_markdown(results: ExperimentResults) -> str:
    """The results as a markdown report."""
    bandit = results.bandit
    how = (
        f"primary metric `{results.primary}`, sequential test at alpha {results.alpha:g},"
        f" read {_every(results.look_ms)}"
        if bandit is None
        else f"bandit: Thompson sampling; reward: {bandit.reward}"
    )
    lines = [
        f"# Experiment `{results.experiment}`",
        "",
        f"**Decision: {results.decision}** ({how})",
        "",
        f"From {results.start} to {results.end}"
        + ("." if bandit is not None else f"; control `{results.control}`."),
        "",
    ]
    if bandit is not None:
        lines += _bandit_lines(bandit)
    if results.srm is not None:
        verdict = "MISMATCH: do not trust these results" if results.srm.mismatch else "ok"
        observed = ", ".join(f"{k} {v}" for k, v in results.srm.observed.items())
        lines += [f"Sample ratio check: {verdict} (p = {results.srm.p_value:.4g}; {observed}).", ""]
    if results.crossovers:
        lines += [f"{results.crossovers} units saw more than one variant.", ""]
    lines += [
        "| arm | units | impressions | clicks | adds | orders | revenue |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {a.name} | {a.units} | {a.impressions} | {a.clicks} | {a.adds} | {a.orders} |"
        f" {a.revenue:.2f} |"
        for a in results.arms
    ]
    for variant in results.variants:
        lines += ["", f"## `{variant.variant}` against `{results.control}`: {variant.decision}", ""]
        seq = variant.sequential
        if seq is not None:
            last = seq.looks[-1]
            lines += [
                f"Sequential ({seq.metric}, {len(seq.looks)} looks, {_every(results.look_ms)}):"
                " difference"
                f" {_num(last.estimate)} in [{_num(last.ci_low)}, {_num(last.ci_high)}],"
                f" always-valid p = {_num(seq.p_value_adjusted)}.",
                "",
            ]
        lines += [
            f"Guardrail `{guard.metric}` (sequential): difference {_num(guard.looks[-1].estimate)}"
            f" in [{_num(guard.looks[-1].ci_low)}, {_num(guard.looks[-1].ci_high)}],"
            f" always-valid p (Holm) = {_num(guard.p_value_adjusted)}."
            for guard in variant.guardrail_sequentials
        ]
        if variant.guardrail_sequentials:
            lines.append("")
        lines += [
            "| metric | control | treatment | difference | interval | p | p (Holm)"
            " | chance to beat | CUPED difference | variance removed |",
            "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
        ]
        lines += [_row(c) for c in variant.comparisons]
    return "\n".join(lines) + "\n"


def _bandit_lines(bandit: BanditResults) -> list[str]:
    """The arms' posteriors as a table (the bandit's split follows its learning, so it is not
    tested against planned weights, and no variant is tested against the control)."""
    level = f"{bandit.credibility:.0%}"
    lines = [
        "| arm | shown | rewarded | share | reward rate | "
        f"{level} interval | chance of being best | expected loss |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    lines += [
        f"| {a.name} | {a.shown} | {a.rewarded} | {_num(a.share)} | {_num(a.mean)}"
        f" | [{_num(a.ci_low)}, {_num(a.ci_high)}] | {_num(a.chance_best)}"
        f" | {_num(a.expected_loss)} |"
        for a in bandit.arms
    ]
    return [*lines, ""]


def _row(c: Comparison) -> str:
    if c.error is not None:
        return f"| {c.metric} | {_num(c.control)} | {_num(c.treatment)} | {c.error} |||||||"
    interval = f"[{_num(c.ci_low)}, {_num(c.ci_high)}]"
    cuped = c.cuped
    return (
        f"| {c.metric} | {_num(c.control)} | {_num(c.treatment)} | {_num(c.difference)}"
        f" | {interval} | {_num(c.p_value)} | {_num(c.p_value_adjusted)}"
        f" | {_num(c.chance_to_beat_control)}"
        f" | {_num(None if cuped is None else cuped.difference)}"
        f" | {_num(None if cuped is None else cuped.variance_reduction)} |"
    )


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _every(look_ms: int) -> str:
    """How often the sequential test was read, in words."""
    minutes = look_ms / 60_000
    if minutes == 24 * 60:
        return "daily"
    if minutes == 60:
        return "hourly"
    return f"every {minutes:g} minutes"


def report_png(results: ExperimentResults) -> bytes:
    """The cumulative difference of the primary metric after each look, with its
    always-valid (mSPRT) interval, one line per variant; for a bandit, each arm's posterior
    density of its reward rate."""
    # imported here, not with the package: servers and workers import experiments but never plot
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if results.bandit is None:
        _plot_effect(axes, results)
    else:
        _plot_posteriors(axes, results.experiment, results.bandit)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _plot_effect(axes: Axes, results: ExperimentResults) -> None:
    """The cumulative effect of every variant with its always-valid interval."""
    drawn = False
    for variant in results.variants:
        if variant.sequential is None:
            continue
        looks = variant.sequential.looks
        days = [look.day + 1 for look in looks]
        axes.plot(days, [look.estimate for look in looks], marker="o", label=variant.variant)
        axes.fill_between(
            days, [look.ci_low for look in looks], [look.ci_high for look in looks], alpha=0.2
        )
        drawn = True
    axes.axhline(0.0, color="grey", linewidth=1)
    axes.set_xlabel(f"look ({_every(results.look_ms)})")
    axes.set_ylabel(f"{results.primary}: treatment - {results.control}")
    axes.set_title(f"{results.experiment}: cumulative effect, always-valid interval")
    if drawn:
        axes.legend()
    else:
        axes.text(0.5, 0.5, "not enough data yet", ha="center", transform=axes.transAxes)


def _plot_posteriors(axes: Axes, experiment: str, bandit: BanditResults) -> None:
    """Each arm's Beta posterior density over the range where the arms' mass lies."""
    from scipy import stats

    low = min(arm.ci_low for arm in bandit.arms)
    high = max(arm.ci_high for arm in bandit.arms)
    margin = (high - low) * 0.25
    grid = np.linspace(max(0.0, low - margin), min(1.0, high + margin), 400)
    for arm in bandit.arms:
        a, b = arm.posterior
        density = stats.beta.pdf(grid, a, b)
        line = axes.plot(grid, density, label=f"{arm.name} (best {arm.chance_best:.2f})")[0]
        axes.axvline(arm.mean, color=line.get_color(), linewidth=1, linestyle=":")
    axes.set_xlabel(f"reward rate ({bandit.reward})")
    axes.set_ylabel("posterior density")
    axes.set_title(f"{experiment}: posterior of each arm")
    axes.legend()


def report_html(results: ExperimentResults, png: bytes) -> str:
    """A standalone page: the plot embedded, and the markdown report as preformatted text."""
    image = base64.b64encode(png).decode("ascii")
    alt = "cumulative effect" if results.bandit is None else "posterior of each arm"
    title = html.escape(f"Experiment {results.experiment}")
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{title}</title></head><body>\n<h1>{title}</h1>\n"
        f"<p><strong>Decision: {html.escape(results.decision)}</strong></p>\n"
        f"<img alt='{alt}' src='data:image/png;base64,{image}'>\n"
        f"<pre>{html.escape(report_markdown(results))}</pre>\n</body></html>\n"
    )


def write_report(results: ExperimentResults, out_dir: Path) -> list[Path]:
    """Write ``report.md``, ``.json``, ``.png`` and ``.html`` into ``out_dir``; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = report_png(results)
    paths = [out_dir / name for name in FILES]
    markdown, as_json, image, page = paths
    markdown.write_text(report_markdown(results), encoding="utf-8")
    as_json.write_text(report_json(results), encoding="utf-8")
    image.write_bytes(png)
    page.write_text(report_html(results, png), encoding="utf-8")
    return paths
