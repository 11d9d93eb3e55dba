"""Scale-out: ingestion and serving throughput with 1, 2 and 4 API processes (issue 28).

On PostgreSQL + Redis, the setup ``docs/deploy.md`` scales out (``shopwise serve --workers N``
with ``SHOPWISE_API_CONSUMERS=false`` and one ``shopwise worker``), for each count of API
processes asked for:

* ingestion: the closed-loop phases of ``benchmarks/ingest.py`` (batches of 100 on 8
  connections, single events on 64), each against a fresh database, through its
  :func:`ingest.http_runs`;
* serving: ``benchmarks/serve.py``'s saturation runs (wrk, 32 connections) of
  ``GET /v1/recommendations`` and of the floor route, over one demo shop built once (its
  :func:`serve.build_shop`), each process count a fresh server over the same store.

Every row has its rate, p99, the API processes' CPU a unit of work and the CPU of the worker,
PostgreSQL and Redis beside it: on a machine with fewer cores than processes, throughput stops
growing and the CPU a unit of work says where the cores went. Results go to
``benchmarks/results/scale.json`` and ``.md``; ``--quick`` is a smoke run into ``results/tmp``.

    python benchmarks/scale.py [--quick] [--workers 1 2 4] [--repeats 3] [--rounds 3]
                               [--shop quick|full]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest
import serve
from _common import (
    RESULTS,
    Backend,
    Server,
    add_backend_options,
    exit_on_sigterm,
    machine,
    median,
    open_backend,
    temp_dir,
    write_report,
)

BACKEND = "postgres-redis"
INGEST_PHASES = tuple(p for p in ingest.PHASES if p.request_rate is None)
"""The closed-loop phases: throughput at saturation."""
IDLE_SECONDS = 10.0


def ingestion(args: argparse.Namespace, workers: int) -> dict[str, dict[str, float]]:
    """The closed-loop ingestion phases against ``workers`` API processes, medians."""
    config = ingest.Config("FULL", consumers=False, backend=BACKEND, workers=workers, worker=True)
    with open_backend(BACKEND, args.postgres_url, args.redis_url) as backend:
        runs = ingest.http_runs(config, backend, args.repeats, args.seconds, INGEST_PHASES)
    out = {}
    for phase, measurements in runs.items():
        rows = [asdict(m) for m in measurements]
        out[phase] = {k: median([r[k] for r in rows]) for k in rows[0]}
        out[phase]["cpu_us_per_event"] = _per_unit(out[phase], "events_per_s")
    return out


def _per_unit(row: dict[str, float], rate: str) -> float:
    """The API processes' CPU microseconds a unit of ``rate`` (a CPU % and a rate a second)."""
    return round(row["server_cpu_pct"] * 1e4 / row[rate], 1) if row[rate] else float("nan")


def serving(
    args: argparse.Namespace, backend: Backend, data_dir: Path, paths: list[str], workers: int
) -> dict[str, dict[str, float]]:
    """Saturation of recommendations and of the floor against ``workers`` API processes."""
    server = serve.floor_server(data_dir, backend, workers, api_only=True)
    server.start()
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        key = server.create_key("secret")
        runs["idle"] = [idle(server, IDLE_SECONDS)]
        for _ in range(args.rounds):
            for name, endpoint in (("recommendations", paths), ("floor", ["/floor"])):
                runs.setdefault(name, []).append(serve.saturate(server, key, endpoint))
    finally:
        server.stop()
    return {
        name: {k: median([r[k] for r in rows]) for k in rows[0] if k != "seconds"}
        for name, rows in runs.items()
    }


def idle(server: Server, seconds: float) -> dict[str, float]:
    """CPU % of one core the API processes and the worker use without traffic: their polls,
    heartbeats and leases, a fixed cost a second that a low request rate divides by little."""
    api, worker = server.cpu_seconds(), server.worker_cpu_seconds()
    time.sleep(seconds)
    return {
        "api_cpu_pct": round(100 * (server.cpu_seconds() - api) / seconds, 1),
        "worker_cpu_pct": round(100 * (server.worker_cpu_seconds() - worker) / seconds, 1),
    }


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Scale-out: 1, 2 and 4 API processes on PostgreSQL + Redis",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, Python "
        f"{m['python']}; load average {m['load_avg_at_start']} at start and "
        f"{report['load_avg_at_end']} at the end (other work shared the cores: a 30-minute soak "
        f"on the same PostgreSQL and Redis, training, tests); a plain Python loop ran at "
        f"{m['python_loop_ns']} ns an iteration. Command: `{report['command']}` "
        f"({report['started']}, {report['seconds']} s).",
        "",
        "Setup: `shopwise serve --workers N` (`SHOPWISE_API_CONSUMERS=false`) and one `shopwise "
        "worker` over PostgreSQL and Redis, the client (asyncio for events, wrk for GET) on the "
        "same cores. Ingestion: closed loop, batches of 100 events on 8 connections and single "
        f"events on 64, a fresh database for each N, medians of {report['repeats']} runs of "
        f"{report['seconds_per_phase']} s. Serving: wrk at full speed (32 connections) on the "
        f"demo shop ({report['shop']['events']} events, {report['shop']['customers']} "
        f"customers), recommendations for 2,000 shoppers and the fixed-payload floor route, "
        f"medians of {report['rounds']} rounds. `API CPU us` is the CPU of every API process "
        "(parent and uvicorn workers) a unit of work; the other CPU columns are per cent of one "
        "core (ingestion) or microseconds a request (serving) for the worker, the PostgreSQL "
        "processes connected to the run's database and the `redis-server` process (the soak's "
        "traffic on it included).",
        "",
        "## Ingestion (`POST /v1/events`)",
        "",
        "| API processes | phase | events/s | p50 ms | p99 ms | API CPU % | API CPU us/event "
        "| worker CPU % | postgres CPU % | redis CPU % | client CPU % | errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers, block in report["ingestion"].items():
        for phase, r in block.items():
            lines.append(
                f"| {workers} | {phase} | {r['events_per_s']:,.0f} | {r['p50_ms']} "
                f"| {r['p99_ms']} | {r['server_cpu_pct']} | {r['cpu_us_per_event']} "
                f"| {r['worker_cpu_pct']} | {r['postgres_cpu_pct']} | {r['redis_cpu_pct']} "
                f"| {r['client_cpu_pct']} | {r['errors']:.0f} |"
            )
    lines += [
        "",
        "## Serving (`GET /v1/recommendations` and the floor, saturation)",
        "",
        "| API processes | endpoint | requests/s | p50 ms | p99 ms | API CPU us/request "
        "| worker CPU us/request | postgres CPU us/request | redis CPU us/request | errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers, block in report["serving"].items():
        for endpoint, r in block.items():
            if endpoint == "idle":
                continue
            lines.append(
                f"| {workers} | {endpoint} | {r['rps']:,.0f} | {r['p50_ms']} | {r['p99_ms']} "
                f"| {r['server_cpu_us_per_request']} | {r['worker_cpu_us_per_request']} "
                f"| {r['postgres_cpu_us_per_request']} | {r['redis_cpu_us_per_request']} "
                f"| {r['errors']:.0f} |"
            )
    lines += [
        "",
        f"Without traffic ({IDLE_SECONDS:.0f} s after the server and the worker were ready): "
        "CPU % of one core.",
        "",
        "| API processes | API CPU % | worker CPU % |",
        "|---:|---:|---:|",
    ]
    for workers, block in report["serving"].items():
        r = block["idle"]
        lines.append(f"| {workers} | {r['api_cpu_pct']} | {r['worker_cpu_pct']} |")
    lines += ["", "Against one API process (same run):", ""]
    first = str(report["workers"][0])
    base_in = report["ingestion"][first]["batch100_max"]
    base_rec = report["serving"][first]["recommendations"]
    for workers in [str(w) for w in report["workers"][1:]]:
        batch = report["ingestion"][workers]["batch100_max"]
        rec = report["serving"][workers]["recommendations"]
        lines.append(
            f"- {workers} API processes: batched events/s x"
            f"{batch['events_per_s'] / base_in['events_per_s']:.2f}, API CPU a batched event "
            f"x{batch['cpu_us_per_event'] / base_in['cpu_us_per_event']:.2f}; "
            f"recommendations/s x{rec['rps'] / base_rec['rps']:.2f}, API CPU a request "
            f"x{rec['server_cpu_us_per_request'] / base_rec['server_cpu_us_per_request']:.2f}"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke)")
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=3, help="ingestion runs per phase")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per ingestion run")
    parser.add_argument("--rounds", type=int, default=3, help="serving rounds")
    parser.add_argument("--shop", default="quick", choices=["full", "quick"])
    parser.add_argument("--out", type=Path, default=None, help="results JSON path")
    add_backend_options(parser)
    args = parser.parse_args(argv)
    exit_on_sigterm()
    if args.quick:
        args.repeats, args.seconds, args.rounds, args.shop = 1, 1.5, 1, "quick"
    if args.out is None:  # a smoke run never overwrites the committed results
        args.out = RESULTS / ("tmp" if args.quick else "") / "scale.json"
    started = time.perf_counter()
    report: dict[str, Any] = {
        "command": shlex.join(["python", "benchmarks/scale.py", *sys.argv[1:]]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "workers": args.workers,
        "repeats": args.repeats,
        "seconds_per_phase": args.seconds,
        "rounds": args.rounds,
    }
    report["ingestion"] = {str(w): ingestion(args, w) for w in args.workers}
    with (
        temp_dir("shopwise-scale-") as data_dir,
        open_backend(BACKEND, args.postgres_url, args.redis_url) as backend,
    ):
        shoppers, shop = serve.build_shop(data_dir, args.shop == "quick", "shopwise", backend)
        paths = serve.recommendation_paths(shoppers, np.random.default_rng(5))
        report["shop"] = {k: v for k, v in shop.items() if k != "model"}
        report["serving"] = {
            str(w): serving(args, backend, data_dir, paths, w) for w in args.workers
        }
    report["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(write_report(args.out, report, markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
