"""Peak memory of the KPI job against the number of answers it counts (issue 28, the soak's worker).

The worker's ``kpis`` job recomputes each day its new events touch. This benchmark stores a day of
synthetic traffic in a fresh SQLite store (``--sizes`` answers served within two hours, as in the
soak, each showing 10 of 2,000 products to one of a quarter as many shoppers; 3% of the answers
clicked, 1% added to cart, 0.5% followed by an order of the clicked product) and runs the job once
(:class:`shopwise.kpis.KpiRefresh`) under ``tracemalloc``: the peak of the Python allocations
during the run, above what was allocated before it. If the job held the day's answers, its peak
would grow with them; the ratio of the peaks of the largest and the smallest size against the
ratio of their answers says how it scales.

``--label`` names the code measured (default: the commit); results of other labels already in the
JSON are kept, so the code before a change can be measured by running this script with
``PYTHONPATH`` pointing at that code's ``src`` and another label.

    python benchmarks/kpi_memory.py
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa

import shopwise
from _common import RESULTS, commit, machine, temp_dir, write_report
from shopwise import store
from shopwise.kpis import KpiRefresh
from shopwise.privacy import ConsentPolicy
from shopwise.settings import Settings

JSON_OUT = RESULTS / "kpi_memory.json"
DAY_START = 1_772_409_600_000
"""2026-03-02T00:00:00Z."""
SPAN_MS = 2 * 3_600_000
PRODUCTS = 2000
SHOWN = 10
CLICKED, ADDED, ORDERED = 0.03, 0.01, 0.005
INSERT_ROWS = 10_000


def day_of_traffic(
    answers: int, rng: np.random.Generator, span_ms: int = SPAN_MS
) -> list[dict[str, Any]]:
    """Event rows of ``answers`` served answers within ``span_ms`` of the day's start and what
    followed them (see module docstring)."""
    rows: list[dict[str, Any]] = []
    times = np.sort(rng.integers(DAY_START, DAY_START + span_ms, answers))
    shoppers = rng.integers(0, max(1, answers // 4), answers)
    for n, (at, shopper) in enumerate(zip(times.tolist(), shoppers.tolist(), strict=True)):
        rid = f"{at:012x}{n:020x}"
        items = [f"p{int(i)}" for i in rng.choice(PRODUCTS, SHOWN, replace=False)]
        anonymous = f"a{shopper}"
        shown = {"recommendation_id": rid, "product_ids": items, "placement": "home"}
        rows.append(
            event_row(
                f"v{n}", "recommendation_viewed", anonymous, at, shown | {"model_version": "m1"}
            )
        )
        draw = rng.random()
        if draw < CLICKED:
            touch = {"recommendation_id": rid, "product_id": items[0]}
            rows.append(event_row(f"c{n}", "recommendation_clicked", anonymous, at + 1000, touch))
        if draw < ADDED:
            rows.append(
                event_row(f"d{n}", "product_added", anonymous, at + 2000, touch | {"quantity": 1})
            )
        if draw < ORDERED:
            line = {"product_id": items[0], "price": 10.0, "quantity": 1}
            order = {"order_id": f"o{n}", "products": [line], "revenue": 10.0, "currency": "EUR"}
            rows.append(event_row(f"o{n}", "order_completed", anonymous, at + 3000, order))
    return rows


def event_row(
    message: str, type_: str, anonymous: str, at: int, props: dict[str, Any]
) -> dict[str, Any]:
    return {
        "message_id": message,
        "type": type_,
        "anonymous_id": anonymous,
        "user_id": None,
        "timestamp": at,
        "received_at": at,
        "product_id": props.get("product_id"),
        "context": {},
        "properties": props,
        "key_id": None if type_ == "recommendation_viewed" else "k1",
    }


def measure(answers: int, directory: Path, seed: int) -> dict[str, Any]:
    """Store a day of ``answers`` and run the KPI job once; its peak memory and time."""
    engine = store.create_engine(Settings(data_dir=directory / f"var-{answers}"))
    store.upgrade(engine)
    rows = day_of_traffic(answers, np.random.default_rng(seed))
    with engine.begin() as conn:
        for start in range(0, len(rows), INSERT_ROWS):
            conn.execute(store.events.insert(), rows[start : start + INSERT_ROWS])
    del rows
    gc.collect()
    refresh = KpiRefresh(engine, ConsentPolicy(), window_hours=24)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    counts = refresh.run()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    with engine.connect() as conn:
        day = conn.execute(
            sa.select(store.kpi_buckets.c.impressions).where(store.kpi_buckets.c.grain == "day")
        ).scalar_one()
    engine.dispose()
    assert day == answers, (day, answers)  # every answer counted once
    return {
        "answers": answers,
        "events": counts["events"],
        "peak_mib": round(peak / 2**20, 2),
        "bytes_per_answer": round(peak / answers, 1),
        "seconds": round(seconds, 2),
    }


def marginal(sizes: list[dict[str, Any]]) -> float:
    """Bytes of peak each answer beyond the smallest size's adds (largest against smallest)."""
    first, last = sizes[0], sizes[-1]
    extra = (last["peak_mib"] - first["peak_mib"]) * 2**20
    return round(extra / max(last["answers"] - first["answers"], 1), 1)


def markdown(report: dict[str, Any]) -> str:
    host = report["machine"]
    lines = [
        "# KPI job: peak memory against the answers it counts",
        "",
        f"Machine: {host['cpu_model']}, {host['cores']} cores, {host['memory_gb']} GB. "
        "Command: `python benchmarks/kpi_memory.py` (one label per code measured; "
        "`PYTHONPATH=<src of that code>` and `--label` for code other than the checkout's).",
        "",
        "Peak of the Python allocations during one run of the job (`tracemalloc`), on a fresh "
        "SQLite store holding one day of synthetic traffic (see the script's docstring).",
        "",
        "| code | answers | events | peak MiB | bytes per answer | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for label, run in report["runs"].items():
        for row in run["sizes"]:
            lines.append(
                f"| {label} | {row['answers']} | {row['events']} | {row['peak_mib']} | "
                f"{row['bytes_per_answer']} | {row['seconds']} |"
            )
    lines += [
        "",
        "| code | answers ratio (largest / smallest) | peak ratio | bytes per further answer |",
        "|---|---|---|---|",
    ]
    for label, run in report["runs"].items():
        lines.append(
            f"| {label} | {run['answers_ratio']} | {run['peak_ratio']} | {marginal(run['sizes'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 40_000, 160_000])
    parser.add_argument("--label", default=None, help="name of the code measured (commit)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    label = args.label or commit()
    with temp_dir("kpi-memory") as directory:
        sizes = [measure(n, directory, args.seed) for n in sorted(args.sizes)]
    run = {
        "shopwise": str(Path(shopwise.__file__).parent),
        "sizes": sizes,
        "answers_ratio": round(sizes[-1]["answers"] / sizes[0]["answers"], 1),
        "peak_ratio": round(sizes[-1]["peak_mib"] / max(sizes[0]["peak_mib"], 1e-9), 1),
    }
    runs = orjson.loads(JSON_OUT.read_bytes())["runs"] if JSON_OUT.exists() else {}
    report = {"machine": machine(), "runs": {**runs, label: run}}
    print(write_report(JSON_OUT, report, markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
