"""What a busy neighbour process does to the API's CPU a request, with no work shared.

In the soak (``benchmarks/soak.py``; ``docs/performance.md``, "Recommendation latency over the
hour"), the API processes' CPU a request followed the worker's CPU share across 36 ten-minute
blocks. Either the worker's work made each request cost more through the hardware they share
(the other core busy: shared cache, memory bandwidth, frequency), or through work it handed the
API. This separates the first: one API process (``benchmarks/serve.py``'s server, the quick demo
shop, embedded store, no bus consumers and no worker, so nothing else touches the store) is
offered the same fixed rate of ``GET /v1/recommendations`` and of the framework's floor route
while a neighbour process that shares nothing with it runs on the machine:

* ``alone``: no neighbour;
* ``spin``: a pure-Python busy loop (one core busy, little memory traffic);
* ``sweep``: a loop that sums a 256 MiB array (one core busy streaming memory through the shared
  cache).

The conditions take turns for ``--rounds`` rounds; each row is the median over the rounds of the
server's CPU a request (its process's user plus system time over the requests served, read
after the run settles, as ``serve.py`` reads it) and wrk's p50 and p99. Results go to
``benchmarks/results/neighbour_cost.json`` and ``.md``.

    python benchmarks/neighbour_cost.py [--rate 400] [--rounds 5]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine, median, open_backend, temp_dir, write_report
from serve import build_shop, connections_for, cpu_run, floor_server, recommendation_paths

JSON_OUT = RESULTS / "neighbour_cost.json"
NEIGHBOURS: dict[str, str | None] = {
    "alone": None,
    "spin": "while True:\n    pass",
    "sweep": "import numpy as np\nblock = np.ones(32 * 2**20)\nwhile True:\n    block.sum()",
}
"""Each condition's neighbour: a Python program run beside the server, or none."""
ROUTES = ("recommendations", "floor")
METRICS = ("server_cpu_us_per_request", "p50_ms", "p99_ms", "rps")
WARM_SECONDS = 2.0
"""Wait after a neighbour starts, so its start-up is not in the run."""


def start_neighbour(program: str | None) -> subprocess.Popen[bytes] | None:
    if program is None:
        return None
    neighbour = subprocess.Popen([sys.executable, "-c", program])
    time.sleep(WARM_SECONDS)
    return neighbour


def stop(neighbour: subprocess.Popen[bytes] | None) -> None:
    if neighbour is not None:
        neighbour.kill()
        neighbour.wait()


def measure(args: argparse.Namespace, data_dir: Path, backend: Any) -> dict[str, Any]:
    rng = np.random.default_rng(5)
    shoppers, shop = build_shop(data_dir, True, "shopwise", backend)
    paths = {"recommendations": recommendation_paths(shoppers, rng), "floor": ["/floor"]}
    server = floor_server(data_dir, backend, 1, api_only=True)
    server.start()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {route: [] for route in ROUTES} for name in NEIGHBOURS
    }
    try:
        key = server.create_key("secret")
        for route in ROUTES:  # warm-up, not counted
            cpu_run(server, key, paths[route], args.rate, connections_for(args.rate))
        for round_ in range(args.rounds):
            for name, program in NEIGHBOURS.items():
                neighbour = start_neighbour(program)
                try:
                    for route in ROUTES:
                        run = cpu_run(
                            server, key, paths[route], args.rate, connections_for(args.rate)
                        )
                        runs[name][route].append(run)
                finally:
                    stop(neighbour)
                print(f"round {round_ + 1}/{args.rounds} {name} done", flush=True)
    finally:
        server.stop()
    medians = {
        name: {route: {m: median([r[m] for r in rs]) for m in METRICS} for route, rs in by.items()}
        for name, by in runs.items()
    }
    return {"shop": shop, "runs": runs, "medians": medians}


def markdown(report: dict[str, Any]) -> str:
    m, medians = report["machine"], report["results"]["medians"]
    lines = [
        "# A busy neighbour and the API's CPU a request",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, Python "
        f"{m['python']}. Command: `{report['command']}` ({report['seconds']:.0f} s).",
        "",
        f"One API process (quick demo shop, embedded store, no consumers, no worker) offered "
        f"{report['rate']} requests/s of each route by wrk, beside no neighbour (`alone`), a "
        "pure-Python busy loop (`spin`) or a loop summing a 256 MiB array (`sweep`); medians "
        f"of {report['rounds']} rounds, the conditions taking turns.",
        "",
        "| route | neighbour | server CPU us a request | vs alone | p50 ms | p99 ms | requests/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for route in ROUTES:
        base = medians["alone"][route]["server_cpu_us_per_request"]
        for name in NEIGHBOURS:
            row = medians[name][route]
            cost = row["server_cpu_us_per_request"]
            lines.append(
                f"| {route} | {name} | {cost:,.1f} | {cost / base:.2f}x | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {row['rps']:,.0f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=400, help="requests/s offered to each route")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    clock = time.perf_counter()
    report: dict[str, Any] = {
        "command": "python benchmarks/neighbour_cost.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "rate": args.rate,
        "rounds": args.rounds,
    }
    with temp_dir("neighbour-cost-") as data_dir, open_backend("embedded", "", "") as backend:
        report["results"] = measure(args, data_dir, backend)
    report["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.perf_counter() - clock, 1)
    print(write_report(JSON_OUT, report, markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
