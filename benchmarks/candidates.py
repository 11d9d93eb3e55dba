"""The candidate stage's per-generator work in threads against one thread (issue 25, retrain time).

:func:`shopwise.recommend.ranking.build_candidates` turns every generator's score matrix for a
batch of histories into the candidate union and its feature rows. On a training batch most of the
time goes to each generator's top items (a partition of a histories x catalog matrix) and the
columns read from those matrices; numpy releases the GIL there, so the work of different
generators runs in threads (``PARALLEL_CELLS``). This benchmark times the function on batches
shaped like the Diginetica training run's (the pipeline's 256 histories, a 43,097-item catalog,
six generators: three transition-like generators that score few items, three dense ones), in
threads and, in the same run, with ``parallel_cells`` raised so that everything stays in one
thread; and one history (serving's call, in one thread either way). Both paths must give the
same candidates and features. Medians of ``--repeats`` alternating rounds.

    python benchmarks/candidates.py
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from _common import RESULTS, machine, median, write_report
from shopwise.recommend.candidates import FloatArray, IntArray
from shopwise.recommend.ranking import (
    CandidateBatch,
    CandidateConfig,
    ItemStats,
    build_candidates,
)
from shopwise.recommend.ranking._features import PARALLEL_CELLS

JSON_OUT = RESULTS / "candidates.json"
ITEMS = 43_097
GENERATORS = 6
SPARSE_SHARE = 0.995
"""Share of items a transition-like generator does not score (``-inf``)."""


def batch(histories: int, rng: np.random.Generator) -> tuple[list[IntArray], dict[str, FloatArray]]:
    """Histories of 1-20 items and every generator's score matrix for them."""
    found = [rng.integers(0, ITEMS, int(rng.integers(1, 21))) for _ in range(histories)]
    scores: dict[str, FloatArray] = {}
    for g in range(GENERATORS):
        matrix = rng.random((histories, ITEMS), dtype=np.float32)
        if g < GENERATORS // 2:
            matrix[rng.random(matrix.shape) < SPARSE_SHARE] = -np.inf
        scores[f"generator_{g}"] = matrix
    return found, scores


def item_stats(rng: np.random.Generator) -> ItemStats:
    return ItemStats(
        log_popularity=np.log1p(rng.random(ITEMS, dtype=np.float32) * 100),
        log_recent_popularity=np.log1p(rng.random(ITEMS, dtype=np.float32) * 10),
        attributes=sp.csr_matrix((ITEMS, 0), dtype=np.float32),
        attribute_counts=np.zeros(ITEMS, dtype=np.float32),
        log_prices=None,
    )


def compare(histories: int, repeats: int, seed: int) -> dict[str, Any]:
    """Threads against one thread on the same batch, alternating, with the outputs compared."""
    rng = np.random.default_rng(seed)
    found, scores = batch(histories, rng)
    stats, config = item_stats(rng), CandidateConfig()
    cells = {"threads": PARALLEL_CELLS, "one_thread": 1 << 62}
    millis: dict[str, list[float]] = {mode: [] for mode in cells}
    outputs: dict[str, CandidateBatch] = {}
    for _ in range(repeats):
        for mode, parallel in cells.items():
            started = time.perf_counter()
            outputs[mode] = build_candidates(found, scores, stats, config, parallel_cells=parallel)
            spent = time.perf_counter() - started
            millis[mode].append(spent * 1000)
    a, b = outputs["threads"], outputs["one_thread"]
    same = bool(
        np.array_equal(a.rows, b.rows)
        and np.array_equal(a.items, b.items)
        and np.array_equal(a.features, b.features, equal_nan=True)
    )
    threads, one = median(millis["threads"]), median(millis["one_thread"])
    return {
        "histories": histories,
        "candidates": len(a.rows),
        "threads_ms": threads,
        "one_thread_ms": one,
        "speedup": round(one / threads, 2) if threads else None,
        "identical": same,
    }


def markdown(report: dict[str, Any]) -> str:
    host = report["machine"]
    lines = [
        "# Candidate stage: per-generator work in threads against one thread",
        "",
        f"Machine: {host['cpu_model']}, {host['cores']} cores, {host['memory_gb']} GB "
        f"(load at start {host['load_avg_at_start']}). Command: `python benchmarks/candidates.py`. "
        f"Median of {report['repeats']} alternating rounds; {GENERATORS} generators over "
        f"{ITEMS:,} items (see the script's docstring).",
        "",
        "| histories | candidates | threads ms | one thread ms | speedup | same output |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        lines.append(
            f"| {row['histories']} | {row['candidates']} | {row['threads_ms']} | "
            f"{row['one_thread_ms']} | {row['speedup']} | {row['identical']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=25)
    args = parser.parse_args()
    results = [compare(n, args.repeats, args.seed) for n in (256, 1)]
    report = {"machine": machine(), "repeats": args.repeats, "results": results}
    print(write_report(JSON_OUT, report, markdown))
    return 0 if all(row["identical"] for row in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
