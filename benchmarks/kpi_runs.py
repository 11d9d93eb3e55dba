"""Time of each 5-minute run of the KPI job through hours of traffic (issue 28, the soak's drift).

The worker runs the ``kpis`` job every 5 minutes over the events stored since its last run. This
benchmark replays ``--hours`` of synthetic traffic (``--answers-per-hour`` served answers with
the clicks, adds and orders of ``benchmarks/kpi_memory.py``, and ``--views-per-answer`` product
views that name no answer, like the soak's traffic) into a fresh SQLite store, 5 minutes of
traffic at a time, and runs one :class:`shopwise.kpis.KpiRefresh` after each slice, timing it.
A job whose run reads the day so far gets slower with every slice; one that reads what the new
events touch stays flat. The report gives the median run of the first and of the last hour and
their ratio, for each code measured.

``--label`` names the code measured (default: the commit); results of other labels already in the
JSON are kept, so the code before a change can be measured by running this script with
``PYTHONPATH`` pointing at that code's ``src`` and another label.

    python benchmarks/kpi_runs.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

import shopwise
from _common import RESULTS, commit, temp_dir, write_labelled_run
from kpi_memory import DAY_START, INSERT_ROWS, PRODUCTS, day_of_traffic, event_row
from shopwise import store
from shopwise.kpis import KpiRefresh
from shopwise.privacy import ConsentPolicy
from shopwise.settings import Settings

JSON_OUT = RESULTS / "kpi_runs.json"
HOUR_MS = 3_600_000
SLICE_MS = 5 * 60_000
"""The job's interval in the worker (``worker/_jobs.py`` ``KPI_SECONDS``)."""
HOUR_RUNS = 12
"""Runs in an hour of traffic: the first and the last hour are compared, as a run's cost also
rises within each hour (it reads the current hour's answers so far)."""


def traffic(
    hours: int, per_hour: int, views: int, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """The event rows of ``hours`` of traffic, in time order (see module docstring)."""
    answers = hours * per_hour
    rows = day_of_traffic(answers, rng, hours * HOUR_MS)
    times = rng.integers(DAY_START, DAY_START + hours * HOUR_MS, answers * views)
    shoppers = rng.integers(0, max(1, answers // 4), times.size)
    items = rng.integers(0, PRODUCTS, times.size)
    for n, (at, shopper, item) in enumerate(
        zip(times.tolist(), shoppers.tolist(), items.tolist(), strict=True)
    ):
        view = {"product_id": f"p{item}", "price": 10.0}
        rows.append(event_row(f"pv{n}", "product_viewed", f"a{shopper}", at, view))
    rows.sort(key=lambda row: row["timestamp"])
    return rows


def measure(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """Replay the traffic a slice at a time, running and timing the job after each slice."""
    engine = store.create_engine(Settings(data_dir=directory / "var"))
    store.upgrade(engine)
    rows = traffic(
        args.hours, args.answers_per_hour, args.views_per_answer, np.random.default_rng(args.seed)
    )
    refresh = KpiRefresh(engine, ConsentPolicy(), window_hours=24)
    seconds: list[float] = []
    position = 0
    for end in range(DAY_START + SLICE_MS, DAY_START + args.hours * HOUR_MS + 1, SLICE_MS):
        stop = position
        while stop < len(rows) and rows[stop]["timestamp"] < end:
            stop += 1
        with engine.begin() as conn:
            for start in range(position, stop, INSERT_ROWS):
                conn.execute(store.events.insert(), rows[start : min(stop, start + INSERT_ROWS)])
        position = stop
        started = time.perf_counter()
        refresh.run()
        seconds.append(round(time.perf_counter() - started, 3))
    engine.dispose()
    first = round(statistics.median(seconds[:HOUR_RUNS]), 3)
    last = round(statistics.median(seconds[-HOUR_RUNS:]), 3)
    return {
        "shopwise": str(Path(shopwise.__file__).parent),
        "events": len(rows),
        "runs": len(seconds),
        "seconds": seconds,
        "first_hour_median_s": first,
        "last_hour_median_s": last,
        "growth": round(last / first, 1),
        "total_s": round(sum(seconds), 1),
    }


def markdown(report: dict[str, Any]) -> str:
    host, setup = report["machine"], report["setup"]
    lines = [
        "# KPI job: time of each 5-minute run through hours of traffic",
        "",
        f"Machine: {host['cpu_model']}, {host['cores']} cores, {host['memory_gb']} GB. "
        "Command: `python benchmarks/kpi_runs.py` (one label per code measured; "
        "`PYTHONPATH=<src of that code>` and `--label` for code other than the checkout's).",
        "",
        f"{setup['hours']} hours of synthetic traffic ({setup['answers_per_hour']} answers an "
        f"hour, {setup['views_per_answer']} product views naming no answer per answer, and the "
        "clicks, adds and orders of `kpi_memory.py`) stored into a fresh SQLite store 5 minutes "
        "at a time, with one run of the job after each slice.",
        "",
        "| code | events | runs | median run, first hour (s) | median run, last hour (s) | "
        "growth | longest run (s) | all runs (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, run in report["runs"].items():
        lines.append(
            f"| {label} | {run['events']} | {run['runs']} | {run['first_hour_median_s']} | "
            f"{run['last_hour_median_s']} | {run['growth']}x | {max(run['seconds'])} | "
            f"{run['total_s']} |"
        )
    lines += ["", "Median run of each hour of traffic (s):", ""]
    for label, run in report["runs"].items():
        seconds = run["seconds"]
        hours = [seconds[start : start + HOUR_RUNS] for start in range(0, len(seconds), HOUR_RUNS)]
        lines.append(f"- {label}: " + ", ".join(f"{statistics.median(h):.3f}" for h in hours))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--answers-per-hour", type=int, default=6000)
    parser.add_argument("--views-per-answer", type=int, default=3)
    parser.add_argument("--label", default=None, help="name of the code measured (commit)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    label = args.label or commit()
    with temp_dir("kpi-runs") as directory:
        run = measure(args, directory)
    setup = {
        "hours": args.hours,
        "answers_per_hour": args.answers_per_hour,
        "views_per_answer": args.views_per_answer,
    }
    print(write_labelled_run(JSON_OUT, setup, label, run, markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
