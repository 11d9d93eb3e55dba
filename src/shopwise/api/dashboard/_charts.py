"""Plotly figures for the dashboard, as plain figure dictionaries (``{"data", "layout"}``).

The figures are built here from what the services answer and drawn in the browser by plotly.js
(``static/dashboard.js``); no figure object of the Python library is needed for that, so pages
render without importing it. Every figure shares one small layout (:func:`_layout`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Figure = dict[str, Any]

_FONT = {"family": "system-ui, sans-serif", "size": 12}


def _layout(title: str, y_title: str = "", percent: bool = False, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 14}},
        "font": _FONT,
        "margin": {"l": 56, "r": 16, "t": 40, "b": 48},
        "height": 300,
        "legend": {"orientation": "h", "y": -0.2},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero", "automargin": True},
        "xaxis": {"automargin": True},
        "paper_bgcolor": "rgba(0,0,0,0)",
    }
    if percent:
        layout["yaxis"]["tickformat"] = ".0%"
    layout.update(extra)
    return layout


def lines(
    title: str,
    series: Mapping[str, tuple[Sequence[Any], Sequence[float | None]]],
    y_title: str = "",
    percent: bool = False,
) -> Figure:
    """One line (with markers, so a single bucket still shows) per named ``(x, y)`` series.

    With one point per series the x axis is categorical: a time axis would stretch that one
    instant over a span of milliseconds."""
    data = [
        {"type": "scatter", "mode": "lines+markers", "name": name, "x": list(x), "y": list(y)}
        for name, (x, y) in series.items()
    ]
    layout = _layout(title, y_title, percent)
    if all(len(x) <= 1 for x, _y in series.values()):
        layout["xaxis"]["type"] = "category"
    return {"data": data, "layout": layout}


def bars(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    y_title: str = "",
    percent: bool = False,
    errors: Mapping[str, Sequence[float | None]] | None = None,
) -> Figure:
    """Grouped bars: one trace per named series over ``categories`` (optional symmetric
    ``errors`` per series, drawn as error bars)."""
    data: list[dict[str, Any]] = []
    for name, values in series.items():
        trace: dict[str, Any] = {
            "type": "bar",
            "name": name,
            "x": list(categories),
            "y": list(values),
        }
        if errors is not None and name in errors:
            trace["error_y"] = {"type": "data", "array": list(errors[name]), "visible": True}
        data.append(trace)
    return {"data": data, "layout": _layout(title, y_title, percent, barmode="group")}


def band(
    title: str,
    x: Sequence[Any],
    estimate: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    y_title: str = "",
) -> Figure:
    """An estimate over time with its confidence band and the zero line (sequential looks)."""
    data = [
        {"type": "scatter", "mode": "lines", "x": list(x), "y": list(high), "name": "upper",
         "line": {"width": 0}, "showlegend": False},
        {"type": "scatter", "mode": "lines", "x": list(x), "y": list(low), "name": "interval",
         "fill": "tonexty", "line": {"width": 0}, "fillcolor": "rgba(31,119,180,0.2)"},
        {"type": "scatter", "mode": "lines+markers", "x": list(x), "y": list(estimate),
         "name": "estimate"},
    ]  # fmt: skip
    layout = _layout(title, y_title)
    layout["yaxis"]["rangemode"] = "normal"
    layout["shapes"] = [
        {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 0, "y1": 0,
         "line": {"dash": "dot", "color": "#888"}}
    ]  # fmt: skip
    return {"data": data, "layout": layout}


def with_threshold(figure: Figure, value: float, label: str) -> Figure:
    """``figure`` with a dashed horizontal line at ``value`` (a drift threshold, say)."""
    shapes = list(figure["layout"].get("shapes", []))
    shapes.append(
        {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": value, "y1": value,
         "line": {"dash": "dash", "color": "#c0392b"}}
    )  # fmt: skip
    annotations = list(figure["layout"].get("annotations", []))
    annotations.append(
        {"xref": "paper", "x": 1, "y": value, "text": label, "showarrow": False,
         "xanchor": "right", "yanchor": "bottom", "font": {"color": "#c0392b"}}
    )  # fmt: skip
    figure["layout"].update(shapes=shapes, annotations=annotations)
    return figure


# -- KPIs -------------------------------------------------------------------------------------

COUNTS = ("impressions", "clicks", "adds", "orders", "revenue", "fallbacks")
"""The KPI counts that add up across buckets and groups (visitors and distinct items do not:
one shopper or item is counted once per bucket)."""
SUMMED_RATES = {
    "ctr": ("clicks", "impressions"),
    "add_to_cart_rate": ("adds", "impressions"),
    "conversion_rate": ("orders", "impressions"),
    "average_order_value": ("revenue", "orders"),
    "fallback_share": ("fallbacks", "impressions"),
}
"""The rates of :data:`shopwise.kpis.RATES` that stay true over summed counts."""


def kpi_totals(rows: Iterable[Mapping[str, Any]], dimension: str) -> list[dict[str, Any]]:
    """The KPI rows summed per value of ``dimension`` (placement, model_version, variant), with
    the rates that stay true over sums; ordered by impressions, the largest first."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0.0))
    for row in rows:
        group = sums[str(row[dimension])]
        for count in COUNTS:
            group[count] += row[count] or 0
    totals = []
    for name, group in sums.items():
        rates = {
            rate: (group[num] / group[den] if group[den] else None)
            for rate, (num, den) in SUMMED_RATES.items()
        }
        totals.append({dimension: name, **group, **rates})
    return sorted(totals, key=lambda total: -total["impressions"])


def kpi_over_time(
    rows: Iterable[Mapping[str, Any]], dimension: str, numerator: str, denominator: str | None
) -> dict[str, tuple[list[str], list[float | None]]]:
    """Per value of ``dimension``, the bucket starts and ``numerator / denominator`` summed over
    the other dimensions in each bucket (the plain sum when ``denominator`` is ``None``)."""
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for row in rows:
        cell = sums[str(row[dimension])][row["bucket_start"]]
        cell[0] += row[numerator] or 0
        cell[1] += (row[denominator] or 0) if denominator is not None else 1
    series: dict[str, tuple[list[str], list[float | None]]] = {}
    for name, buckets in sorted(sums.items()):
        starts = sorted(buckets)
        values: list[float | None] = []
        for start in starts:
            num, den = buckets[start]
            if denominator is None:
                values.append(num)
            else:
                values.append(num / den if den else None)
        series[name] = (starts, values)
    return series
