"""A drift report: the verdicts as JSON and a plot, saved under ``<data_dir>/drift/<time>/``.

``report.json`` holds the windows, the sample sizes, every feature's statistics, thresholds and
verdict, and the overall verdict; ``report.png`` draws the PSI of every feature against its
threshold and, for the drifted features, the reference and recent distributions. The plot is drawn
on a matplotlib ``Figure`` with the Agg canvas, never through ``pyplot``, so no global backend or
figure state is touched in a server, a worker or a test.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import orjson

from shopwise.drift._statistics import DriftThresholds, FeatureDrift, category_counts
from shopwise.drift._windows import Window
from shopwise.files import private_dir, write_private

if TYPE_CHECKING:
    from matplotlib.axes import Axes

REPORT_JSON: Final = "report.json"
REPORT_PNG: Final = "report.png"
PLOTTED: Final = 6
"""Drifted features drawn (the largest PSI first)."""
Verdict = Literal["drift", "no_drift"]
Sample = tuple[list[float], list[float]] | tuple[list[str], list[str]]


@dataclass
class DriftReport:
    """One drift check: the windows, every feature compared, and the samples behind the plot."""

    created_ms: int
    champion: dict[str, Any]
    reference: Window
    recent: Window
    thresholds: DriftThresholds
    features: list[FeatureDrift]
    events: dict[str, int]
    samples: dict[str, Sample] = field(default_factory=dict, repr=False)
    """Each feature's values in both windows (for the plot; never written)."""
    folder: Path | None = None

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]

    @property
    def verdict(self) -> Verdict:
        return "drift" if self.drifted else "no_drift"

    def to_dict(self) -> dict[str, Any]:
        return {
            "created_at": datetime.fromtimestamp(self.created_ms / 1000, UTC).isoformat(),
            "verdict": self.verdict,
            "drifted_features": [f.name for f in self.drifted],
            "untested_features": [f.name for f in self.features if f.drifted is None],
            "champion": self.champion,
            "windows": {"reference": self.reference.to_dict(), "recent": self.recent.to_dict()},
            "events": self.events,
            "thresholds": self.thresholds.model_dump(),
            "features": [f.to_dict() for f in self.features],
            "files": self.files(),
        }

    def files(self) -> dict[str, str] | None:
        if self.folder is None:
            return None
        return {"json": str(self.folder / REPORT_JSON), "png": str(self.folder / REPORT_PNG)}


def folder_name(created_ms: int) -> str:
    """A sortable folder name for a report made at ``created_ms`` (UTC to the millisecond)."""
    stamp = datetime.fromtimestamp(created_ms / 1000, UTC)
    return stamp.strftime("%Y%m%dT%H%M%S") + f"{created_ms % 1000:03d}Z"


def save(report: DriftReport, root: Path) -> Path:
    """Write ``report`` under ``root/<time>/`` (JSON and PNG); the folder."""
    private_dir(root)
    folder = root / folder_name(report.created_ms)
    suffix = 0
    while folder.exists():  # two checks in one millisecond
        suffix += 1
        folder = root / f"{folder_name(report.created_ms)}-{suffix}"
    private_dir(folder, exist_ok=False)
    report.folder = folder
    write_private(folder / REPORT_PNG, report_png(report))
    write_private(folder / REPORT_JSON, orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2))
    return folder


def latest(root: Path) -> dict[str, Any] | None:
    """The newest saved report's JSON under ``root``, or ``None`` when there is none."""
    if not root.is_dir():
        return None
    folders = sorted(p for p in root.iterdir() if (p / REPORT_JSON).is_file())
    if not folders:
        return None
    data: dict[str, Any] = orjson.loads((folders[-1] / REPORT_JSON).read_bytes())
    return data


def report_png(report: DriftReport) -> bytes:
    """The PSI of every feature against its threshold, then the reference and recent
    distributions of the drifted features with the largest PSI."""
    # imported here: the worker imports drift on start, and plots only when it checks
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drifted = sorted(report.drifted, key=lambda f: -f.statistics.get("psi", 0.0))[:PLOTTED]
    drawn = [f for f in drifted if f.name in report.samples]
    rows = 1 + (len(drawn) + 1) // 2
    figure = Figure(figsize=(11, 3.6 * rows), dpi=90, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(rows, 2)
    _plot_psi(figure.add_subplot(grid[0, :]), report)
    for i, feature in enumerate(drawn):
        axes = figure.add_subplot(grid[1 + i // 2, i % 2])
        _plot_feature(axes, feature, report.samples[feature.name])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _plot_psi(axes: Axes, report: DriftReport) -> None:
    tested = [f for f in report.features if "psi" in f.statistics]
    names = [f.name for f in tested]
    values = [f.statistics["psi"] for f in tested]
    colours = ["tab:red" if f.drifted else "tab:grey" for f in tested]
    axes.bar(names, values, color=colours)
    axes.axhline(report.thresholds.psi, color="black", linestyle="--", linewidth=1)
    axes.set_ylabel("PSI")
    axes.set_title(
        f"drift {report.verdict}: PSI per feature (red: drifted by any test; line: PSI threshold)"
    )
    axes.tick_params(axis="x", labelrotation=30)
    if not tested:
        axes.text(0.5, 0.5, "no feature had enough data", ha="center", transform=axes.transAxes)


def _plot_feature(axes: Axes, feature: FeatureDrift, sample: Sample) -> None:
    reference, recent = sample
    if feature.kind == "numeric":
        both = np.asarray([*reference, *recent], float)
        edges = [float(e) for e in np.histogram_bin_edges(both, bins=30)]
        axes.hist(reference, bins=edges, density=True, alpha=0.5, label="reference")
        axes.hist(recent, bins=edges, density=True, alpha=0.5, label="recent")
    else:
        names, ref, cur = category_counts([str(v) for v in reference], [str(v) for v in recent])
        shown = np.argsort(-(ref / ref.sum() + cur / cur.sum()))[:12]
        x = np.arange(len(shown))
        axes.bar(x - 0.2, (ref / ref.sum())[shown], width=0.4, label="reference")
        axes.bar(x + 0.2, (cur / cur.sum())[shown], width=0.4, label="recent")
        axes.set_xticks(x, [names[int(i)] for i in shown], rotation=30, fontsize=8)
        axes.set_ylabel("share")
    axes.set_title(f"{feature.name} ({', '.join(feature.fired)})")
    axes.legend()
