"""The worker's memory, job by job: what a job process costs, and what a job run leaves behind.

Two measurements behind ``docs/performance.md`` ("The worker's memory, job by job"), issue 28:

- **A job in its own process.** The worker runs its whole-population jobs in a spawned process
  (``shopwise.worker._isolated.in_own_process``). A job that does nothing is run that way
  ``--starts`` times over an empty SQLite store: the wall time from the call to the answer
  (spawning, importing shopwise, building the runtime) and the job process's peak resident
  memory (``peak_rss_mib``), medians. That is the price a job pays for handing all of its memory
  back when it ends.
- **Cyclic garbage in a long-lived process.** ``--profiles`` profiles are stored as
  ``benchmarks/journeys_runs.py`` stores them (the shipped triggers, 60 days of shoppers, churn
  scores for the buyers). Then, in a fresh process under the worker's garbage-collector settings
  (:func:`shopwise.runtime.long_lived_gc`, which makes full collections rare), ``--runs`` full
  runs of the journeys job (a new runner each time, so each loads every profile within the
  horizon) run one after the other, and the process's resident memory (``VmRSS``) is read after
  each: once as the worker ran jobs before, and once with a full collection after each run, as
  :class:`shopwise.worker.Scheduler` now does after every job run. The collection's own time is
  reported too.

    python benchmarks/job_memory.py
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from _common import RESULTS, commit, machine, rss_bytes, temp_dir, write_report
from journeys_runs import PRODUCTS, populate
from shopwise.journeys import default_triggers_text, trigger_store
from shopwise.logs import Progress
from shopwise.runtime import Runtime, long_lived_gc
from shopwise.settings import Settings
from shopwise.worker._isolated import in_own_process
from shopwise.worker._journeys import trigger_runner

JSON_OUT = RESULTS / "job_memory.json"


def nothing(runtime: Runtime, progress: Progress) -> dict[str, Any]:
    """A job with no work: what is left is the cost of its process."""
    progress("nothing to do")
    return {}


def process_cost(settings: Settings, starts: int) -> dict[str, Any]:
    """Time and peak of ``starts`` runs of :func:`nothing` in its own process."""
    job = in_own_process(settings, nothing)
    seconds, peaks = [], []
    for _ in range(starts):
        began = time.perf_counter()
        result = job(lambda message: None)
        seconds.append(round(time.perf_counter() - began, 3))
        peaks.append(result["peak_rss_mib"])
    return {
        "seconds": seconds,
        "peak_rss_mib": peaks,
        "median_seconds": round(statistics.median(seconds), 2),
        "median_peak_rss_mib": statistics.median(peaks),
    }


def rss_mib() -> float:
    resident = rss_bytes(os.getpid())
    assert resident is not None  # this process
    return round(resident / 2**20, 1)


def journeys_runs(data_dir: str, runs: int, collect: bool) -> dict[str, Any]:
    """In a fresh process: ``runs`` full journeys runs, the resident memory after each."""
    runtime = Runtime.build(Settings(data_dir=Path(data_dir)))
    runtime.start(consumers=False)  # as the worker: the composer's answers are served
    after, collect_ms = [], []
    try:
        with long_lived_gc():
            for _ in range(runs):
                trigger_runner(runtime).run(int(time.time() * 1000))
                if collect:
                    began = time.perf_counter()
                    gc.collect()
                    collect_ms.append(round((time.perf_counter() - began) * 1000, 1))
                after.append(rss_mib())
    finally:
        runtime.stop()
    return {"rss_mib_after_each_run": after, "collect_ms": collect_ms}


def in_fresh_process(shop: Path, copy: Path, runs: int, collect: bool) -> dict[str, Any]:
    """:func:`journeys_runs` in a spawned process, over a copy of the stored shop (the first
    run records its decisions, so each variant starts from the same store)."""
    shutil.copytree(shop, copy)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(journeys_runs, str(copy), runs, collect).result()


def store_shop(data_dir: Path, profiles: int, seed: int) -> None:
    runtime = Runtime.build(Settings(data_dir=data_dir), migrate=True)
    try:
        runtime.catalog.upsert(
            [{"id": f"sku-{i}", "title": f"Product {i}", "price": 10 + i} for i in range(PRODUCTS)]
        )
        trigger_store(runtime.engine).put(default_triggers_text(), None)
        rng = np.random.default_rng(seed)
        populate(runtime, profiles, rng, int(time.time() * 1000), email_share=0.4)
    finally:
        runtime.engine.dispose()


def markdown(report: dict[str, Any]) -> str:
    host, setup, cost = report["machine"], report["setup"], report["process"]
    lines = [
        "# The worker's memory, job by job",
        "",
        f"Machine: {host['cpu_model']}, {host['cores']} cores, {host['memory_gb']} GB. Command: "
        f"`{report['command']}` (code {report['code']}).",
        "",
        "## A job in its own process",
        "",
        f"A job that does nothing, run {setup['starts']} times in its own process over an empty "
        f"SQLite store: median {cost['median_seconds']} s from the call to the answer, and a "
        f"peak of {cost['median_peak_rss_mib']} MiB resident in the job process (each run: "
        f"{cost['seconds']} s; {cost['peak_rss_mib']} MiB).",
        "",
        "## Full journeys runs in one long-lived process",
        "",
        f"{setup['profiles']:,} profiles stored as `benchmarks/journeys_runs.py` stores them; "
        f"{setup['runs']} full runs of the journeys job in a fresh process under the worker's "
        "garbage-collector settings (`long_lived_gc`), resident memory after each run.",
        "",
        "| after each run | " + " | ".join(str(n + 1) for n in range(setup["runs"])) + " |",
        "|---|" + "---|" * setup["runs"],
    ]
    for name, run in report["journeys"].items():
        lines.append(
            f"| {name}, MiB | " + " | ".join(map(str, run["rss_mib_after_each_run"])) + " |"
        )
    collected = report["journeys"]["a full collection after each run"]["collect_ms"]
    lines += ["", f"The collections took {collected} ms."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with temp_dir("job-memory") as directory:
        shop = directory / "shop"
        store_shop(shop, args.profiles, args.seed)
        process = process_cost(Settings(data_dir=directory / "empty"), args.starts)
        journeys = {
            "no collection (before)": in_fresh_process(
                shop, directory / "before", args.runs, collect=False
            ),
            "a full collection after each run": in_fresh_process(
                shop, directory / "after", args.runs, collect=True
            ),
        }
    report = {
        "machine": machine(),
        "command": "python benchmarks/job_memory.py",
        "code": commit(),
        "setup": {"starts": args.starts, "profiles": args.profiles, "runs": args.runs},
        "process": process,
        "journeys": journeys,
    }
    print(write_report(JSON_OUT, report, markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
