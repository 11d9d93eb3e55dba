"""Ingestion of the default setup under several versions of the code, alternating, in one run.

``benchmarks/ingest.py`` measures one version of the code; a change to the ingestion path is
judged against the code before it on the same machine in the same run. This runs
``ingest.py --configs <config> --repeats 1`` once per variant per round, the variants taking turns
for ``--rounds`` rounds (so a slow minute of a shared machine does not fall on one variant alone),
each with its ``src`` folder first on ``PYTHONPATH`` (the server, the worker and the client all
import that code), and reports each phase's median over the rounds: events/s, p99 and the CPU of
the API and the worker, with each variant's ratio to the first.

A variant is ``LABEL=SRC``: the ``src`` folder of a ``git worktree`` of a commit, or of a copy
of this checkout with one change undone (an ablation; say which in ``--note``).

    python benchmarks/ingest_variants.py --variant before=/tmp/old/src --variant after=src
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from _common import (
    REPO,
    RESULTS,
    median,
    parse_variants,
    variants_lines,
    variants_parser,
    variants_report,
    variants_rows,
    write_report,
)

PHASES = (
    "batch100_max",
    "single_max",
    "batch100_at_target",
    "single_at_target",
    "batch100_light",
    "single_light",
)
METRICS = ("events_per_s", "p99_ms", "server_cpu_pct", "worker_cpu_pct")


def run_once(src: Path, config: str, seconds: float, out: Path) -> dict[str, Any]:
    """One ``ingest.py`` run of ``config`` with ``src`` first on the path; its phase summary."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [
        sys.executable,
        str(REPO / "benchmarks" / "ingest.py"),
        *("--configs", config, "--repeats", "1", "--seconds", str(seconds), "--out", str(out)),
    ]
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=REPO)
    results = orjson.loads(out.read_bytes())["results"]
    (summary,) = [r["summary"] for r in results.values()]
    return {phase: {m: summary[phase].get(m) for m in METRICS} for phase in PHASES}


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in args.variant}
    for round_ in range(args.rounds):
        for label, src in args.variant:
            out = work / f"{label}-{round_}.json"
            runs[label].append(run_once(src, args.config, args.seconds, out))
            print(f"round {round_ + 1}/{args.rounds} {label} done", flush=True)
    medians = {label: _medians(rs) for label, rs in runs.items()}
    return {"runs": runs, "medians": medians}


def _medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each phase's metrics, the median over ``runs``."""
    return {
        phase: {m: median([r[phase][m] for r in runs if r[phase][m] is not None]) for m in METRICS}
        for phase in PHASES
    }


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    first = report["variants"][0][0]
    lines = [
        "# Ingestion of the default setup, versions of the code alternating",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, Python "
        f"{m['python']}; load average {m['load_avg_at_start']} at start. Command: "
        f"`{report['command']}` ({report['started']}; {report['seconds']:.0f} s).",
        "",
        f"Each round runs `python benchmarks/ingest.py --configs {report['config']} --repeats 1 "
        f"--seconds {report['seconds_per_phase']}` once per variant, with the variant's `src` "
        f"first on `PYTHONPATH`; medians of {report['rounds']} rounds. Phases as in "
        "`ingest.md`: `*_max` closed loop, `*_at_target` open loop at 10,000 batched / 2,000 "
        "single events/s, `*_light` open loop at 1,000 / 200. API and worker CPU are % of one "
        "core.",
        *variants_lines(report),
    ]
    lines += [
        "",
        "| phase | variant | events/s | vs " + first + " | p99 ms | API CPU % | worker CPU % |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += variants_rows(report, PHASES, "events_per_s", _cells)
    return "\n".join(lines) + "\n"


def _cells(phase: str, label: str, row: dict[str, Any], ratio: float) -> str:
    return (
        f"| {phase} | {label} | {row['events_per_s']:,.0f} | {ratio:.2f}x | "
        f"{row['p99_ms']:.1f} | {row['server_cpu_pct']:.0f} | {row['worker_cpu_pct']:.0f} |"
    )


def main() -> int:
    parser = variants_parser(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--config", default="FULL:worker", help="an ingest.py configuration")
    parser.add_argument("--work", type=Path, default=None, help="folder for each run's JSON")
    parser.add_argument("--out", type=Path, default=RESULTS / "ingest_variants.json")
    args = parse_variants(parser)
    work = args.work or Path(f"/tmp/ingest-variants-{os.getpid()}")
    work.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    report = variants_report("ingest_variants.py", args)
    report |= {"config": args.config, "seconds_per_phase": args.seconds}
    report["results"] = measure(args, work)
    report["seconds"] = round(time.perf_counter() - clock, 1)
    print(write_report(args.out, report, markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
