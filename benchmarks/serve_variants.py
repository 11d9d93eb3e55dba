"""Serving at one fixed load under several versions of the code, alternating, in one run.

``benchmarks/serve.py`` measures one version of the code, and builds its shop each time. A
change to the serving path is judged against the code before it on the same machine in the same
run: this builds the demo shop once (with this checkout's code), then for ``--rounds`` rounds
starts the benchmark's server (``shopwise serve`` plus ``/floor``, consumers in the process, as
``serve.py`` runs it) once per variant, with the variant's ``src`` folder first on
``PYTHONPATH``, warms it with one saturation run, and offers ``--rate`` requests a second to
``GET /v1/recommendations`` and then to ``/floor`` with wrk (``serve.py``'s runs: the same
shoppers, connections and think time). It reports each variant's median p50, p99 and server CPU
a request, and the p99 ratio to the first variant.

Variants are named as for ``ingest_variants.py`` (``LABEL=SRC``, ``_common.code_variant``).

    python benchmarks/serve_variants.py --variant before=/tmp/old/src --variant after=src
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import (
    RESULTS,
    median,
    open_backend,
    parse_variants,
    temp_dir,
    variants_lines,
    variants_parser,
    variants_report,
    variants_rows,
    write_report,
)
from serve import (
    build_shop,
    connections_for,
    cpu_run,
    floor_server,
    recommendation_paths,
    saturate,
)

METRICS = ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_request")
ENDPOINTS = ("recommendations", "floor")


def measure_variant(
    data_dir: Path, src: Path, paths: list[str], rate: int, backend: Any
) -> dict[str, dict[str, Any]]:
    """One server of ``src``'s code: warmed, then both endpoints at ``rate``."""
    server = floor_server(data_dir, backend, 1, False, PYTHONPATH=str(src))
    server.start()
    try:
        key = server.create_key("secret")
        saturate(server, key, paths)
        runs = {}
        for name, asked in (("recommendations", paths), ("floor", ["/floor"])):
            runs[name] = cpu_run(server, key, asked, rate, connections_for(rate))
        return runs
    finally:
        server.stop()


def measure(args: argparse.Namespace, data_dir: Path, backend: Any) -> dict[str, Any]:
    shoppers, shop = build_shop(data_dir, args.shop == "quick", "shopwise", backend)
    paths = recommendation_paths(shoppers, np.random.default_rng(5))
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in args.variant}
    for round_ in range(args.rounds):
        for label, src in args.variant:
            runs[label].append(measure_variant(data_dir, src, paths, args.rate, backend))
            print(f"round {round_ + 1}/{args.rounds} {label} done", flush=True)
    medians = {
        label: {e: {m: median([r[e][m] for r in rs]) for m in METRICS} for e in ENDPOINTS}
        for label, rs in runs.items()
    }
    return {"shop": shop, "runs": runs, "medians": medians}


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    first = report["variants"][0][0]
    lines = [
        f"# Serving at {report['rate']:,} requests/s, versions of the code alternating",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, Python "
        f"{m['python']}, shared by the server and wrk; load average {m['load_avg_at_start']} "
        f"at start. Command: `{report['command']}` ({report['started']}; "
        f"{report['seconds']:.0f} s).",
        "",
        f"The demo shop is built once; each round starts the benchmark's server (`shopwise "
        "serve` plus `/floor`, consumers in the process) once per variant, with the variant's "
        "`src` first on `PYTHONPATH`, warms it with one saturation run and offers "
        f"{report['rate']:,} requests/s to each endpoint with wrk for 12 s (`serve.py`'s fixed-"
        f"rate runs). Medians of {report['rounds']} rounds; CPU is the server's, a request.",
        *variants_lines(report),
    ]
    lines += [
        "",
        f"| endpoint | variant | achieved rps | p50 ms | p99 ms | p99 vs {first} | CPU us |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += variants_rows(report, ENDPOINTS, "p99_ms", _cells)
    return "\n".join(lines) + "\n"


def _cells(endpoint: str, label: str, row: dict[str, Any], ratio: float) -> str:
    return (
        f"| {endpoint} | {label} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | "
        f"{row['p99_ms']:.2f} | {ratio:.2f}x | {row['server_cpu_us_per_request']:.1f} |"
    )


def main() -> int:
    parser = variants_parser(__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=5000, help="requests/s offered")
    parser.add_argument("--shop", default="full", choices=["full", "quick"])
    parser.add_argument("--out", type=Path, default=RESULTS / "serve_variants.json")
    args = parse_variants(parser)
    clock = time.perf_counter()
    report = variants_report("serve_variants.py", args) | {"rate": args.rate}
    with (
        temp_dir("shopwise-serve-variants-") as data_dir,
        open_backend("embedded", None, None) as backend,
    ):
        report["results"] = measure(args, data_dir, backend)
    report["seconds"] = round(time.perf_counter() - clock, 1)
    print(write_report(args.out, report, markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
