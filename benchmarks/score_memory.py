"""The customer-score refresh's peak memory as the shop grows, under versions of the code.

The worker's ``refresh-customer-scores`` job reads every consented event of the store, scores
every profile and writes every score, in a process of its own
(``shopwise.worker._isolated.in_own_process``) whose peak resident memory the soak records
(``benchmarks/soak.py``): there it grew with the store. This measures that peak on demo shops of
``--customers`` sizes, each built once (``shopwise.simulate`` with seed 0, loaded through the
collector while the profiles are folded, then every customer model trained), and on the
smallest of them again with ``--visitors`` new one-visit anonymous shoppers added (the soak's
growth: a profile and a few events each), so the peak can be read against the events and the
profiles behind it.

For each shop, the job (``refresh_customer_scores``, the models being fresh, so no retraining)
runs in a fresh Python process per variant per round, the variants taking turns, each with its
``src`` folder first on ``PYTHONPATH``: the process's peak resident memory (``VmHWM``, as the
worker records it; ``ru_maxrss`` would keep this script's own size across the exec), its
resident memory after building the runtime (before the job), and the job's seconds. A variant is
``LABEL=SRC``: the ``src`` folder of a ``git worktree`` of a commit, or this checkout's ``src``.
Results go to ``benchmarks/results/score_memory.json`` and ``.md``.

    python benchmarks/score_memory.py --variant before=/tmp/before/src --variant after=src \\
        [--customers 1250 2500 5000] [--visitors 20000 40000 80000] [--rounds 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa

from _common import (
    REPO,
    RESULTS,
    load_into,
    median,
    parse_variants,
    rss_bytes,
    variants_lines,
    variants_parser,
    variants_report,
    write_report,
)

JSON_OUT = RESULTS / "score_memory.json"
BUILT = "built.json"
"""Written in a shop's folder once it is complete, with its counts; a later run reuses it."""
MIB = 2**20
DAY_MS = 24 * 60 * 60 * 1000
VISITOR_BATCH = 500


def build_shop(data_dir: Path, customers: int) -> dict[str, int]:
    """The demo shop with ``customers`` customers, profiles folded and customer models trained;
    its stored events and profiles (reused when ``data_dir`` holds a complete one)."""
    done = data_dir / BUILT
    if done.exists():
        counts: dict[str, int] = orjson.loads(done.read_bytes())
        return counts
    from shopwise.runtime import Runtime
    from shopwise.settings import Settings
    from shopwise.simulate import SimulationConfig, simulate

    shop = simulate(SimulationConfig(n_customers=customers, seed=0))
    runtime = Runtime.build(Settings(data_dir=data_dir), migrate=True)
    runtime.start()
    try:
        runtime.bus.wait_until_consumed(load_into(runtime, shop), timeout=3600)
        runtime.customers.retrain()
    finally:
        runtime.stop()
    counts = store_counts(runtime.engine)
    done.write_bytes(orjson.dumps(counts))
    return counts


def add_visitors(base: Path, data_dir: Path, visitors: int) -> dict[str, int]:
    """A copy of the shop in ``base`` with ``visitors`` new anonymous shoppers of one short
    visit each on its last day (a page, a product, a third of them a cart add), as the soak's
    new shoppers arrive: each adds a profile and few events. Reused like :func:`build_shop`."""
    done = data_dir / BUILT
    if done.exists():
        counts: dict[str, int] = orjson.loads(done.read_bytes())
        return counts
    from shopwise.runtime import Runtime
    from shopwise.settings import Settings

    shutil.copytree(base, data_dir)
    (data_dir / BUILT).unlink()
    runtime = Runtime.build(Settings(data_dir=data_dir))
    runtime.start()
    try:
        last = 0
        for batch in visitor_batches(runtime, visitors):
            result = runtime.collector.ingest(batch)
            assert not result.rejected, result.rejected[:1]
            last = max(last, result.last_event_id)
        runtime.bus.wait_until_consumed(last, timeout=3600)
    finally:
        runtime.stop()
    counts = store_counts(runtime.engine)
    done.write_bytes(orjson.dumps(counts))
    return counts


def visitor_batches(runtime: Any, visitors: int) -> Iterator[list[dict[str, Any]]]:
    """The visitors' events in batches of :data:`VISITOR_BATCH`, in time order."""
    from shopwise.store import events

    with runtime.engine.connect() as conn:
        end = conn.execute(sa.select(sa.func.max(events.c.timestamp))).scalar_one()
    products = sorted(runtime.catalog.snapshot())
    rng = np.random.default_rng(11)
    batch: list[dict[str, Any]] = []
    for n in range(visitors):
        at = end - DAY_MS + n * DAY_MS // visitors
        product = str(rng.choice(products))
        kinds = [("page_viewed", {"path": "/"}), ("product_viewed", {"product_id": product})]
        if n % 3 == 0:
            kinds.append(("product_added", {"product_id": product, "quantity": 1}))
        for offset, (kind, properties) in enumerate(kinds):
            batch.append(
                {
                    "message_id": f"visitor-{n}-{offset}",
                    "type": kind,
                    "anonymous_id": f"visitor-{n}",
                    "timestamp": datetime.fromtimestamp(
                        (at + offset * 1000) / 1000, UTC
                    ).isoformat(),
                    "properties": properties,
                }
            )
        if len(batch) >= VISITOR_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def store_counts(engine: sa.Engine) -> dict[str, int]:
    from shopwise.store import events, profiles

    with engine.connect() as conn:
        return {
            "events": conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one(),
            "profiles": conn.execute(sa.select(sa.func.count()).select_from(profiles)).scalar_one(),
        }


def refresh_once(data_dir: Path) -> dict[str, Any]:
    """In this process: the refresh job over ``data_dir``; its seconds and this process's
    resident memory before it and at its peak."""
    from shopwise.runtime import Runtime
    from shopwise.settings import Settings
    from shopwise.worker._customers import TRAIN_SECONDS, refresh_customer_scores

    runtime = Runtime.build(Settings(data_dir=data_dir))
    before = rss_bytes(os.getpid()) or 0
    began = time.perf_counter()
    result = refresh_customer_scores(runtime, lambda message: None, train_seconds=TRAIN_SECONDS)
    seconds = time.perf_counter() - began
    assert "refresh" not in result, "the models were retrained: the shop's are not fresh"
    return {
        "seconds": round(seconds, 2),
        "rss_before_mib": round(before / MIB, 1),
        "peak_rss_mib": round((rss_bytes(os.getpid(), "VmHWM") or 0) / MIB, 1),
        "scores": result["scores"],
    }


def run_variant(src: Path, data_dir: Path) -> dict[str, Any]:
    """:func:`refresh_once` in a fresh process with ``src`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, str(Path(__file__).resolve()), "--refresh", str(data_dir)]
    done = subprocess.run(command, env=env, check=True, capture_output=True, cwd=REPO)
    run: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    run["job_mib"] = round(run["peak_rss_mib"] - run["rss_before_mib"], 1)
    return run


def measure(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every shop's counts and runs: the demo shops (``"customers"``) and the smallest one with
    visitors added (``"visitors"``), each keyed by its size."""
    shops: dict[str, dict[str, Any]] = {"customers": {}, "visitors": {}}
    for customers in args.customers:
        data_dir = args.work / f"shop-{customers}"
        counts = build_shop(data_dir, customers)
        shops["customers"][str(customers)] = counts | measure_shop(args, data_dir)
    base = args.work / f"shop-{min(args.customers)}"
    for visitors in args.visitors:
        data_dir = args.work / f"shop-{min(args.customers)}-visitors-{visitors}"
        counts = add_visitors(base, data_dir, visitors)
        shops["visitors"][str(visitors)] = counts | measure_shop(args, data_dir)
    return shops


def measure_shop(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """The variants' runs over ``data_dir``, taking turns, and their medians."""
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in args.variant}
    for _ in range(args.rounds):
        for label, src in args.variant:
            runs[label].append(run_variant(src, data_dir))
            print(f"{data_dir.name} {label}: {runs[label][-1]}", flush=True)
    medians = {
        label: {key: median([r[key] for r in rs]) for key in ("peak_rss_mib", "job_mib")}
        for label, rs in runs.items()
    }
    return {"runs": runs, "medians": medians}


def slopes(shops: dict[str, Any], labels: list[str], by: str, per: int) -> dict[str, float]:
    """Each variant's job memory per ``per`` of ``by`` (least-squares slope over ``shops``)."""
    x = np.array([shop[by] for shop in shops.values()], dtype=float)
    fitted = {}
    for label in labels:
        job = np.array([shop["medians"][label]["job_mib"] for shop in shops.values()])
        fitted[label] = round(float(np.polyfit(x, job, 1)[0]) * per, 1)
    return fitted


def markdown(report: dict[str, Any]) -> str:
    m, shops = report["machine"], report["results"]
    labels = [label for label, _ in report["variants"]]
    lines = [
        "# The customer-score refresh's peak memory as the shop grows",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, Python "
        f"{m['python']}. Command: `{report['command']}` ({report['started']}; "
        f"{report['seconds']:.0f} s).",
        "",
        "Demo shops (seed 0) of each size, built once, and the smallest with one-visit "
        "visitors added (new anonymous shoppers, as in the soak); the `refresh-customer-scores` "
        "job (no retraining) in a fresh process per variant, with the variant's `src` first on "
        f"`PYTHONPATH`; medians of {report['rounds']} rounds. *Peak* is the process's peak "
        "resident memory; *job* is the peak less the process's resident memory before the job "
        "(imports and runtime).",
        *variants_lines(report),
        "",
        *shop_table(shops["customers"], labels, "customers"),
        "",
        *shop_table(shops["visitors"], labels, f"visitors added to {min(report['customers']):,}"),
        "",
        "Job memory per 100,000 stored events, over the demo shops: "
        + _fitted(report["job_mib_per_100k_events"], labels)
        + "; per 10,000 profiles, over the shops with visitors: "
        + _fitted(report["job_mib_per_10k_profiles"], labels)
        + " (least-squares slopes).",
    ]
    return "\n".join(lines) + "\n"


def shop_table(shops: dict[str, Any], labels: list[str], size: str) -> list[str]:
    """One row per shop and variant: its counts, peak and job memory, and the job's ratio to
    the first variant's."""
    lines = [
        f"| {size} | events | profiles | variant | peak MiB | job MiB | job vs {labels[0]} |",
        "|---:|---:|---:|---|---:|---:|---:|",
    ]
    for key, shop in shops.items():
        base = shop["medians"][labels[0]]["job_mib"]
        for label in labels:
            row = shop["medians"][label]
            lines.append(
                f"| {int(key):,} | {shop['events']:,} | {shop['profiles']:,} | {label} | "
                f"{row['peak_rss_mib']:.1f} | {row['job_mib']:.1f} | "
                f"{row['job_mib'] / base:.2f}x |"
            )
    return lines


def _fitted(fitted: dict[str, float], labels: list[str]) -> str:
    return ", ".join(f"{label} {fitted[label]} MiB" for label in labels)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--refresh":
        print(orjson.dumps(refresh_once(Path(sys.argv[2]))).decode())
        return 0
    parser = variants_parser(__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1250, 2500, 5000])
    parser.add_argument("--visitors", type=int, nargs="+", default=[20_000, 40_000, 80_000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/score-memory"))
    parser.add_argument("--out", type=Path, default=JSON_OUT)
    args = parse_variants(parser)
    args.work.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    report = variants_report("score_memory.py", args)
    report |= {"customers": args.customers, "visitors": args.visitors}
    report["results"] = shops = measure(args)
    labels = [label for label, _ in args.variant]
    report["job_mib_per_100k_events"] = slopes(shops["customers"], labels, "events", 100_000)
    report["job_mib_per_10k_profiles"] = slopes(shops["visitors"], labels, "profiles", 10_000)
    report["seconds"] = round(time.perf_counter() - clock, 1)
    print(write_report(args.out, report, markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
