"""Training at scale: time and peak memory of the production recommender on a growing data set.

Fits the production model (``shopwise`` in the evaluation registry, the pipeline that
``shopwise train`` serves) on a share of the largest data set in the quality harness, Diginetica's
training sessions, with the harness's SR-GNN session protocol (:func:`session_splits`). A share is
a seeded sample of whole sessions kept in their file order, so every sampled session keeps all its
clicks; the item universe and the test prefixes are those of the full data set for every share.
Each share runs in a child process of its own, so its peak resident memory (``wait4``'s max RSS,
the process and any children it waited for) and its CPU time are its own; the child also reports
the peak before fitting (the data loaded and split), the fit's wall time, the pipeline's own
per-stage seconds, and HR@20 / MRR@20 on a fixed seeded sample of the test prefixes (the same
sample for every share) to show what the extra data buys.

Results go to ``benchmarks/results/scale_training.json`` and ``.md``; ``--quick`` runs a small
share into ``benchmarks/results/tmp/``.

    python benchmarks/scale_training.py [--quick] [--fractions 0.1 0.3 1.0]
                                        [--test-queries 5000]
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, RESULTS, _die_with_parent, exit_on_sigterm, machine, write_report

DATASET = "diginetica-sessions"
MODEL = "shopwise"


def default_datasets_dir() -> Path:
    """``SHOPWISE_DATASETS_DIR``, else the shared datasets folder beside the repository."""
    return Path(os.environ.get("SHOPWISE_DATASETS_DIR", REPO.parent / "shared" / "datasets"))


def fit_share(datasets: Path, fraction: float, test_queries: int, seed: int) -> dict[str, Any]:
    """In the child: load, sample ``fraction`` of the sessions, fit, rank the test sample."""
    from shopwise.evaluate import (
        accuracy_metrics,
        get_spec,
        rank_queries,
        read_session_tests,
        read_sessions,
        session_items,
        session_splits,
    )
    from shopwise.recommend.training import fit_report

    started = time.perf_counter()
    sessions = read_sessions(datasets / DATASET / "train_sessions.txt")
    examples = read_session_tests(datasets / DATASET / "test_prefixes.tsv")
    n_items = session_items(sessions, examples)
    rng = np.random.default_rng(seed)
    keep = max(2, round(len(sessions) * fraction))
    rows = np.sort(rng.choice(len(sessions), size=keep, replace=False))
    sample = [sessions[i] for i in rows.tolist()]
    _, test = session_splits(sample, examples, n_items, np.random.default_rng(seed))
    picked = np.sort(
        np.random.default_rng(seed).choice(
            len(test.queries), size=min(test_queries, len(test.queries)), replace=False
        )
    )
    queries = test.queries.subset(picked.tolist())
    load_seconds = time.perf_counter() - started
    rss_before_fit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model = get_spec(MODEL).build({})
    started = time.perf_counter()
    model.fit(test.train)
    fit_seconds = time.perf_counter() - started
    ranking = rank_queries(model, queries, label="test sample")
    metrics = accuracy_metrics(ranking.ranks, (20,))
    return {
        "fraction": fraction,
        "sessions": len(sample),
        "clicks": int(sum(len(s) for s in sample)),
        "n_items": n_items,
        "items_seen": int(np.unique(np.concatenate(sample)).size),
        "load_seconds": round(load_seconds, 1),
        "peak_rss_before_fit_mb": round(rss_before_fit, 1),
        "fit_seconds": round(fit_seconds, 1),
        "fit_report": fit_report(model),
        "test_queries": len(queries),
        "predict_seconds": round(ranking.seconds, 1),
        "HR@20": round(metrics["HR@20"], 4),
        "MRR@20": round(metrics["MRR@20"], 4),
    }


def run_share(datasets: Path, fraction: float, test_queries: int, seed: int) -> dict[str, Any]:
    """One share in a child process, with the child's peak RSS and CPU seconds from ``wait4``."""
    with tempfile.TemporaryDirectory(prefix="shopwise-scale-") as tmp:
        out = Path(tmp) / "share.json"
        command = [
            sys.executable,
            __file__,
            "fit",
            "--datasets-dir",
            str(datasets),
            "--fractions",
            str(fraction),
            "--test-queries",
            str(test_queries),
            "--seed",
            str(seed),
            "--out",
            str(out),
        ]
        started = time.perf_counter()
        child = subprocess.Popen(command, preexec_fn=_die_with_parent)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise RuntimeError(f"share {fraction} exited with {child.returncode}")
        result: dict[str, Any] = orjson.loads(out.read_bytes())
    result["wall_seconds"] = round(wall, 1)
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    result["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 1)
    print(f"  share {fraction}: {result}", flush=True)
    return result


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# Training at scale (production model `{MODEL}` on {DATASET})",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, Python "
        f"{m['python']}; load average {m['load_avg_at_start']} at start and "
        f"{report['load_avg_at_end']} at the end (the machine was shared with other work, so "
        f"wall-clock times are high; a plain Python loop ran at {m['python_loop_ns']} ns an "
        "iteration).",
        "",
        f"Command: `{report['command']}` ({report['started']}, {report['seconds']} s). Each share "
        "is a seeded sample of whole training sessions in file order, fitted with the SR-GNN "
        "session protocol of the quality harness in a child process of its own; peak RSS is that "
        "child's maximum resident set (`wait4`), CPU is its user + system seconds. HR@20 and "
        f"MRR@20 are on the same {report['test_queries']} test prefixes for every share "
        "(a seeded sample of the full test set).",
        "",
        "| share | sessions | clicks | items seen | fit s | wall s | CPU s | peak RSS MB "
        "| RSS before fit MB | HR@20 | MRR@20 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['fraction']:.0%} | {r['sessions']:,} | {r['clicks']:,} | {r['items_seen']:,} "
            f"| {r['fit_seconds']} | {r['wall_seconds']} | {r['cpu_seconds']} "
            f"| {r['peak_rss_mb']:,.0f} | {r['peak_rss_before_fit_mb']:,.0f} | {r['HR@20']} "
            f"| {r['MRR@20']} |"
        )
    base = report["results"][0]
    if len(report["results"]) > 1:
        lines += ["", "Growth against the smallest share:", ""]
    for r in report["results"][1:]:
        lines.append(
            f"- {r['fraction']:.0%}: {r['clicks'] / base['clicks']:.1f}x the clicks, "
            f"{r['cpu_seconds'] / base['cpu_seconds']:.2f}x the CPU seconds, "
            f"{r['fit_seconds'] / base['fit_seconds']:.2f}x the fit's wall-clock time (the "
            f"machine's load moved), {r['peak_rss_mb'] / base['peak_rss_mb']:.2f}x the peak memory"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "fit"])
    parser.add_argument("--quick", action="store_true", help="one small share (smoke)")
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.1, 0.3, 1.0])
    parser.add_argument("--test-queries", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets-dir", type=Path, default=default_datasets_dir())
    parser.add_argument("--out", type=Path, default=None, help="results JSON path")
    args = parser.parse_args(argv)
    if args.mode == "fit":
        share = fit_share(args.datasets_dir, args.fractions[0], args.test_queries, args.seed)
        # the pipeline's fit report carries numpy scalars
        args.out.write_bytes(orjson.dumps(share, option=orjson.OPT_SERIALIZE_NUMPY))
        return 0
    exit_on_sigterm()
    if args.quick:
        args.fractions, args.test_queries = [0.02], 500
    if args.out is None:  # a smoke run never overwrites the committed results
        args.out = RESULTS / ("tmp" if args.quick else "") / "scale_training.json"
    started = time.perf_counter()
    report: dict[str, Any] = {
        "command": shlex.join(["python", "benchmarks/scale_training.py", *sys.argv[1:]]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "dataset": DATASET,
        "model": MODEL,
        "test_queries": args.test_queries,
        "seed": args.seed,
        "results": [],
    }
    text = ""
    for fraction in args.fractions:  # written after every share: a long run keeps what it did
        report["results"].append(
            run_share(args.datasets_dir, fraction, args.test_queries, args.seed)
        )
        report["results"].sort(key=lambda r: r["fraction"])
        report["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        report["seconds"] = round(time.perf_counter() - started, 1)
        text = write_report(args.out, report, markdown)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
