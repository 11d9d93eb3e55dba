"""Soak runs side by side: what the recommendation latency followed over each committed hour.

Reads ``benchmarks/results/soak.json`` as each given commit holds it (``git show``; or the
result of another name), cuts every run into the ten-minute blocks of
:func:`soak.latency_blocks` and reports, per run, the p99 and
the API processes' CPU a request in the first and last block with the correlation of that CPU
with the profiles in the store and with the worker's CPU share, and that last correlation again
over the run's minutes without jobs (:func:`soak.quiet_minutes`); then the same correlations
over all the blocks (and quiet minutes) together, and of the latency with the API's CPU. Writes
``benchmarks/results/soak_runs.{json,md}``.

Usage: ``python benchmarks/soak_runs.py RUN=COMMIT[:NAME] ...`` (for example ``12=428d69f``;
``:NAME`` reads ``results/NAME.json`` instead, a run committed under another ``--name``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, write_report
from soak import latency_blocks, quiet_minutes


def run_at(source: str) -> dict[str, Any]:
    """The soak run (its ``results``) that ``source`` names: ``COMMIT`` for the
    ``results/soak.json`` of that commit, ``COMMIT:NAME`` for its ``results/NAME.json``."""
    commit, _, name = source.partition(":")
    text = subprocess.run(
        ["git", "show", f"{commit}:benchmarks/results/{name or 'soak'}.json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    run: dict[str, Any] = json.loads(text)["results"]
    return run


def _r(rows: list[dict[str, Any]], left: str, right: str) -> float:
    return round(float(np.corrcoef([b[left] for b in rows], [b[right] for b in rows])[0, 1]), 2)


def compare(runs: dict[str, str]) -> dict[str, Any]:
    """Per run and over every block: the figures :func:`markdown` shows."""
    per_run, every, every_quiet = [], [], []
    for label, commit in runs.items():
        run = run_at(commit)
        blocks, quiet = latency_blocks(run), quiet_minutes(run)
        every += blocks
        every_quiet += quiet
        first, last = blocks[0], blocks[-1]
        per_run.append(
            {
                "run": label,
                "commit": commit,
                "p99_ms": [round(first["p99_ms"], 1), round(last["p99_ms"], 1)],
                "api_cpu_us_per_request": [
                    round(first["api_cpu_us_per_request"]),
                    round(last["api_cpu_us_per_request"]),
                ],
                "r_api_profiles": _r(blocks, "api_cpu_us_per_request", "profiles_at_end"),
                "r_api_worker": _r(blocks, "api_cpu_us_per_request", "worker_cpu_pct"),
                "quiet_minutes": len(quiet),
                "r_api_worker_quiet": _r(quiet, "api_cpu_us_per_request", "worker_cpu_pct"),
            }
        )
    named = {
        "p50": "p50_ms",
        "p99": "p99_ms",
        "worker": "worker_cpu_pct",
        "profiles": "profiles_at_end",
    }
    overall = {name: _r(every, key, "api_cpu_us_per_request") for name, key in named.items()}
    overall["worker_quiet"] = _r(every_quiet, "worker_cpu_pct", "api_cpu_us_per_request")
    return {"runs": per_run, "blocks": len(every), "quiet": len(every_quiet), "overall": overall}


def markdown(report: dict[str, Any]) -> str:
    runs = " ".join(f"{r['run']}={r['commit']}" for r in report["runs"])
    lines = [
        "# Soak runs side by side: recommendation latency and the API's CPU a request",
        "",
        f"Command: `python benchmarks/soak_runs.py {runs}` (ten-minute blocks of each run's "
        "committed `soak.json`; r: Pearson correlation over a run's blocks).",
        "",
        "| run | p99 ms, first / last block | API CPU us a request, first / last "
        "| r, API CPU vs profiles | r, API CPU vs worker CPU share "
        "| minutes without jobs | r, the same in those minutes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['run']} | {r['p99_ms'][0]} / {r['p99_ms'][1]} "
            f"| {r['api_cpu_us_per_request'][0]:,} / {r['api_cpu_us_per_request'][1]:,} "
            f"| {r['r_api_profiles']} | {r['r_api_worker']} "
            f"| {r['quiet_minutes']} | {r['r_api_worker_quiet']} |"
        )
    o = report["overall"]
    lines += [
        "",
        f"Over all {report['blocks']} blocks, the API processes' CPU a request against the "
        f"recommendation p50: r = {o['p50']}; p99: {o['p99']}; the worker's CPU share: "
        f"{o['worker']}; the profiles in the store: {o['profiles']}.",
        "",
        f"Over the {report['quiet']} minutes without jobs (no job of a second or more in the "
        "minute or the one before it: the worker folded the steady traffic's events and ran only "
        "jobs shorter than a second), "
        f"the API's CPU a request against the worker's CPU share: r = {o['worker_quiet']}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "runs", nargs="+", help="RUN=COMMIT[:NAME], the run's label, its commit and result name"
    )
    args = parser.parse_args()
    runs = dict(item.split("=", 1) for item in args.runs)
    print(write_report(RESULTS / "soak_runs.json", compare(runs), markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
