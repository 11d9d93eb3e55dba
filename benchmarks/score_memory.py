"""The customer-score refresh's peak memory as the shop grows, under versions of the code.

The worker's ``refresh-customer-scores`` job reads every consented event of the store, scores
every profile and writes every score, in a process of its own
(``shopwise.worker._isolated.in_own_process``) whose peak resident memory the soak records
(``benchmarks/soak.py``): there it grew with the store. This measures that peak on demo shops of
``--customers`` sizes, each built once (``shopwise.simulate`` with seed 0, loaded through the
collector while the profiles are folded, then every customer model trained), so the peak can be
read against the events and profiles behind it.

For each shop, the job (``refresh_customer_scores``, the models being fresh, so no retraining)
runs in a fresh Python process per variant per round, the variants taking turns, each with its
``src`` folder first on ``PYTHONPATH``: the process's peak resident memory (``VmHWM``, as the
worker records it; ``ru_maxrss`` would keep this script's own size across the exec), its
resident memory after building the runtime (before the job), and the job's seconds. A variant is
``LABEL=SRC``: the ``src`` folder of a ``git worktree`` of a commit, or this checkout's ``src``.
Results go to ``benchmarks/results/score_memory.json`` and ``.md``.

    python benchmarks/score_memory.py --variant before=/tmp/before/src --variant after=src \\
        [--customers 1250 2500 5000] [--rounds 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
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


def measure(args: argparse.Namespace) -> dict[str, Any]:
    shops: dict[str, Any] = {}
    for customers in args.customers:
        data_dir = args.work / f"shop-{customers}"
        began = time.perf_counter()
        counts = build_shop(data_dir, customers)
        print(f"shop of {customers} customers: {counts} ({time.perf_counter() - began:.0f} s)")
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in args.variant}
        for _ in range(args.rounds):
            for label, src in args.variant:
                runs[label].append(run_variant(src, data_dir))
                print(f"  {label}: {runs[label][-1]}", flush=True)
        medians = {
            label: {key: median([r[key] for r in rs]) for key in ("peak_rss_mib", "job_mib")}
            for label, rs in runs.items()
        }
        shops[str(customers)] = {**counts, "runs": runs, "medians": medians}
    return shops


def slopes(shops: dict[str, Any], labels: list[str]) -> dict[str, float]:
    """Each variant's job memory per 100,000 events (least-squares slope over the shops)."""
    events = np.array([shop["events"] for shop in shops.values()], dtype=float)
    fitted = {}
    for label in labels:
        job = np.array([shop["medians"][label]["job_mib"] for shop in shops.values()])
        fitted[label] = round(float(np.polyfit(events, job, 1)[0]) * 100_000, 1)
    return fitted


def markdown(report: dict[str, Any]) -> str:
    m, shops = report["machine"], report["results"]
    labels = [label for label, _ in report["variants"]]
    first = labels[0]
    lines = [
        "# The customer-score refresh's peak memory as the shop grows",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, Python "
        f"{m['python']}. Command: `{report['command']}` ({report['started']}; "
        f"{report['seconds']:.0f} s).",
        "",
        "Demo shops (seed 0) of each size, built once; the `refresh-customer-scores` job (no "
        "retraining) in a fresh process per variant, with the variant's `src` first on "
        f"`PYTHONPATH`; medians of {report['rounds']} rounds. *Peak* is the process's peak "
        "resident memory; *job* is the peak less the process's resident memory before the job "
        "(imports and runtime).",
        *variants_lines(report),
        "",
        "| customers | events | profiles | variant | peak MiB | job MiB | job vs " + first + " |",
        "|---:|---:|---:|---|---:|---:|---:|",
    ]
    for customers, shop in shops.items():
        base = shop["medians"][first]["job_mib"]
        for label in labels:
            row = shop["medians"][label]
            lines.append(
                f"| {int(customers):,} | {shop['events']:,} | {shop['profiles']:,} | {label} | "
                f"{row['peak_rss_mib']:.1f} | {row['job_mib']:.1f} | "
                f"{row['job_mib'] / base:.2f}x |"
            )
    fitted = report["job_mib_per_100k_events"]
    lines += [
        "",
        "Job memory per 100,000 stored events (least-squares slope over the shops): "
        + ", ".join(f"{label} {fitted[label]} MiB" for label in labels)
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--refresh":
        print(orjson.dumps(refresh_once(Path(sys.argv[2]))).decode())
        return 0
    parser = variants_parser(__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1250, 2500, 5000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/score-memory"))
    parser.add_argument("--out", type=Path, default=JSON_OUT)
    args = parse_variants(parser)
    args.work.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    report = variants_report("score_memory.py", args)
    report["customers"] = args.customers
    report["results"] = measure(args)
    report["job_mib_per_100k_events"] = slopes(report["results"], [v[0] for v in args.variant])
    report["seconds"] = round(time.perf_counter() - clock, 1)
    print(write_report(args.out, report, markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
