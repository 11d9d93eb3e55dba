"""Ingestion benchmark: events/s and ack latency of ``POST /v1/events`` (issues 3 and 28).

Starts ``shopwise serve`` on 127.0.0.1 over a fresh data directory, for each server
configuration asked for: on SQLite (``SHOPWISE_SQLITE_SYNCHRONOUS`` FULL or NORMAL, with or
without the in-process bus consumers, one uvicorn process), or on PostgreSQL + Redis (a fresh
database, ``shopwise serve --workers N`` without in-process consumers and one ``shopwise worker``
running them, as ``docs/deploy.md`` scales out), and measures:

* ``batch100_max``: closed loop, batches of 100 events on 8 keep-alive connections (throughput at
  saturation, with the latency that comes with it);
* ``single_max``: closed loop, one event a request on 64 connections (group commit joins them);
* ``batch100_at_target`` / ``single_at_target``: open loop at the issue's target rates (10,000
  events/s batched, 2,000 single events/s), latency measured from each request's scheduled send
  time so a stalled server cannot hide its queue (no coordinated omission);
* ``batch100_light`` / ``single_light``: open loop at 1,000 and 200 events/s, the ack latency
  of a server that is not saturated;
* the in-process baseline of the same rows without HTTP: the group-commit writer alone (rows
  validated beforehand) and the whole collector (validation + sessions + writer).

Every figure is the median over ``--repeats`` runs, with the CPU the server's processes used
(so a rate can be read per dedicated core when other work shares the machine), and the CPU of the
worker, PostgreSQL and Redis where they run. The client is a lean asyncio HTTP/1.1 client on the
same cores (its CPU time is reported). Results go to ``benchmarks/results/ingest.json`` and
``ingest.md`` (``ingest-postgres-redis.*`` when a configuration runs on PostgreSQL + Redis);
``--quick`` is a short smoke run whose results go to ``benchmarks/results/tmp/``.

    python benchmarks/ingest.py [--quick] [--configs FULL NORMAL FULL:api-only]
                                [--repeats 3] [--seconds 4]
    python benchmarks/ingest.py --configs postgres-redis:workers=2:worker
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from _common import (
    BACKENDS,
    RESULTS,
    Backend,
    HttpError,
    Server,
    add_backend_options,
    connect,
    exit_on_sigterm,
    fsync_latency_ms,
    machine,
    make_events,
    median,
    open_backend,
    percentile_ms,
    redis_cpu_seconds,
    request_bytes,
    run_async,
    spent_since,
    temp_dir,
    write_report,
)
from shopwise import store
from shopwise.collect import Collector, GroupCommitWriter, Rejection, Sessionizer, validate_event
from shopwise.settings import Settings

BATCH = 100
TARGET_BATCHED = 10_000.0
TARGET_SINGLE = 2_000.0
TARGET_P99_MS = 25.0


@dataclass(frozen=True)
class Phase:
    """One load shape: events per request, connections, and a request rate (None: closed loop)."""

    name: str
    events_per_request: int
    connections: int
    request_rate: float | None


@dataclass(frozen=True)
class Config:
    """A server configuration: the backend (SQLite's durability, or PostgreSQL + Redis), API
    processes, and where the bus consumers run (in the API, or in a ``shopwise worker``)."""

    synchronous: str
    consumers: bool = True
    log_level: str = "INFO"
    backend: str = "embedded"
    workers: int = 1
    worker: bool = False

    @property
    def name(self) -> str:
        if self.backend != "embedded":
            consumers = " + worker" if self.worker else ("" if self.consumers else " api-only")
            return f"{self.backend} {self.workers} API{consumers}"
        if self.worker:
            return f"{self.synchronous} + worker"
        return self.synchronous + ("" if self.consumers else " api-only")

    @classmethod
    def parse(cls, text: str) -> Config:
        """``FULL``, ``NORMAL`` or ``postgres-redis``, then flags: ``api-only`` (no in-process
        consumers), ``worker`` (a ``shopwise worker`` runs them), ``workers=N`` (API
        processes), ``warning`` (log level); for example ``postgres-redis:workers=2:worker``."""
        head, *flags = text.split(":")
        workers = [f for f in flags if f.startswith("workers=")]
        rest = set(flags) - set(workers)
        if head not in ("FULL", "NORMAL", *BACKENDS[1:]) or not rest <= {
            "api-only",
            "warning",
            "worker",
        }:
            raise argparse.ArgumentTypeError(f"unknown configuration {text!r}")
        count = int(workers[-1].partition("=")[2]) if workers else 1
        return cls(
            "FULL" if head in BACKENDS else head,
            consumers=not rest & {"api-only", "worker"},
            log_level="WARNING" if "warning" in rest else "INFO",
            backend=head if head in BACKENDS else "embedded",
            workers=count,
            worker="worker" in rest,
        )


@dataclass
class Measurement:
    """What one run of one phase measured."""

    events_per_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_pct: float
    client_cpu_pct: float
    worker_cpu_pct: float = 0.0
    postgres_cpu_pct: float = 0.0
    redis_cpu_pct: float = 0.0


PHASES = (
    Phase("batch100_max", BATCH, 8, None),
    Phase("single_max", 1, 64, None),
    Phase("batch100_at_target", BATCH, 8, TARGET_BATCHED / BATCH),
    Phase("single_at_target", 1, 64, TARGET_SINGLE),
    Phase("batch100_light", BATCH, 4, 1_000.0 / BATCH),
    Phase("single_light", 1, 16, 200.0),
)


class Requests:
    """Pre-encoded requests with fresh message ids, built outside the timed window."""

    def __init__(self, port: int, key: str, per_request: int, count: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        events = make_events(per_request * count, rng, prefix=f"r{seed}")
        self.items = [
            request_bytes(port, key, events[i : i + per_request])
            for i in range(0, len(events), per_request)
        ]
        self.next = 0

    def take(self) -> bytes | None:
        if self.next >= len(self.items):
            return None
        self.next += 1
        return self.items[self.next - 1]


async def _worker(
    port: int,
    requests: Requests,
    expect: int,
    schedule: Iterator[float] | None,
    stop_at: float,
    latencies: list[float],
    failures: list[int],
) -> None:
    """Send requests until ``stop_at``: back to back, or at the times ``schedule`` yields."""
    conn = await connect(port)
    try:
        while True:
            now = time.perf_counter()
            start = now if schedule is None else next(schedule)
            if start >= stop_at or now >= stop_at:  # a backlog past the window is dropped
                return
            delay = start - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            raw = requests.take()
            if raw is None:
                return
            try:
                status, body = await conn.request(raw)
            except HttpError:
                failures.append(1)
                return
            if status != 200 or orjson.loads(body)["accepted"] != expect:
                failures.append(1)
                continue
            latencies.append(time.perf_counter() - start)
    finally:
        conn.close()


def _schedule(start: float, interval: float, offset: float) -> Iterator[float]:
    i = 0
    while True:
        yield start + offset + i * interval
        i += 1


async def _drive(port: int, phase: Phase, requests: Requests, seconds: float) -> Measurement:
    latencies: list[float] = []
    failures: list[int] = []
    start = time.perf_counter() + 0.05
    stop_at = start + seconds
    schedules: list[Iterator[float] | None] = [None] * phase.connections
    if phase.request_rate is not None:
        interval = phase.connections / phase.request_rate
        schedules = [
            _schedule(start, interval, interval * k / phase.connections)
            for k in range(phase.connections)
        ]
    workers = [
        _worker(port, requests, phase.events_per_request, s, stop_at, latencies, failures)
        for s in schedules
    ]
    await asyncio.gather(*workers)
    elapsed = max(time.perf_counter(), stop_at) - start
    done = len(latencies)
    return Measurement(
        events_per_s=round(done * phase.events_per_request / elapsed, 1),
        requests_per_s=round(done / elapsed, 1),
        p50_ms=percentile_ms(latencies, 50),
        p99_ms=percentile_ms(latencies, 99),
        errors=len(failures),
        server_cpu_pct=0.0,
        client_cpu_pct=0.0,
    )


def prepare(server: Server, key: str, phase: Phase, seconds: float, seed: int) -> Requests:
    """Enough pre-encoded requests for ``seconds`` of ``phase`` (a cap, generously sized)."""
    capacity_rps = phase.request_rate or (300.0 if phase.events_per_request > 1 else 6000.0)
    count = int(capacity_rps * seconds * 1.2) + phase.connections
    return Requests(server.port, key, phase.events_per_request, count, seed)


def drive(server: Server, phase: Phase, requests: Requests, seconds: float) -> Measurement:
    """One timed run of ``phase`` against the running server, with every side's CPU use."""
    server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
    worker_cpu, store_cpu = server.worker_cpu_seconds(), server.backend.store_cpu()
    redis_cpu = redis_cpu_seconds()
    wall = time.perf_counter()
    result: Measurement = run_async(_drive(server.port, phase, requests, seconds))
    wall = time.perf_counter() - wall
    result.server_cpu_pct = round(100 * (server.cpu_seconds() - server_cpu) / wall, 1)
    result.client_cpu_pct = round(100 * (time.process_time() - client_cpu) / wall, 1)
    result.worker_cpu_pct = round(100 * (server.worker_cpu_seconds() - worker_cpu) / wall, 1)
    if server.backend.database_url is not None:
        store = spent_since(store_cpu, server.backend.store_cpu())
        result.postgres_cpu_pct = round(100 * store / wall, 1)
        result.redis_cpu_pct = round(100 * (redis_cpu_seconds() - redis_cpu) / wall, 1)
    if requests.next >= len(requests.items):
        print(f"  warning: {phase.name} used every prepared request", file=sys.stderr)
    return result


def measure(server: Server, key: str, phase: Phase, seconds: float, seed: int) -> Measurement:
    return drive(server, phase, prepare(server, key, phase, seconds, seed), seconds)


def http_runs(
    config: Config,
    backend: Backend,
    repeats: int,
    seconds: float,
    phases: Sequence[Phase] = PHASES,
) -> dict[str, list[Measurement]]:
    """Each of ``phases`` ``repeats`` times against one server over a fresh data directory."""
    runs: dict[str, list[Measurement]] = {p.name: [] for p in phases}
    with temp_dir("shopwise-bench-") as data_dir:
        server = Server(
            data_dir,
            synchronous=config.synchronous,
            log_level=config.log_level,
            consumers=config.consumers,
            backend=backend,
            workers=config.workers,
            worker=config.worker,
        )
        key = server.create_key()
        server.start()
        try:
            measure(server, key, PHASES[0], min(seconds, 2.0), seed=999)  # warm-up
            for r in range(repeats):
                for i, phase in enumerate(phases):
                    m = measure(server, key, phase, seconds, seed=1000 * r + i)
                    runs[phase.name].append(m)
                    print(f"  {config.name} {phase.name} run {r + 1}: {asdict(m)}", flush=True)
        finally:
            server.stop()
    return runs


def _timed(fn: Callable[[], int]) -> float:
    started = time.perf_counter()
    events = fn()
    return round(events / (time.perf_counter() - started), 1)


def raw_runs(
    synchronous: str, backend: Backend, repeats: int, events_per_run: int
) -> dict[str, list[float]]:
    """The same rows stored in-process, without HTTP: writer alone and the whole collector.

    Built from the store and the collector directly (not the whole runtime): the ingestion path
    alone, with no bus consumers.
    """
    out: dict[str, list[float]] = {"writer_batch100": [], "writer_single": [], "collector": []}
    with temp_dir("shopwise-raw-") as data_dir:
        settings = Settings(data_dir=data_dir, sqlite_synchronous=synchronous, **backend.settings())
        engine = store.create_engine(settings)
        store.upgrade(engine)
        writer = GroupCommitWriter(engine, on_commit=lambda _events: None)
        collector = Collector(writer, Sessionizer(settings.session_idle_minutes))
        writer.start()
        try:
            for r in range(repeats):
                rng = np.random.default_rng(5000 + r)
                batched = _rows(make_events(events_per_run, rng, f"wb{r}"))
                single = _rows(make_events(events_per_run // 5, rng, f"ws{r}"))
                whole = make_events(events_per_run, rng, f"c{r}")
                out["writer_batch100"].append(
                    _timed(lambda: _submit_all(writer, batched, BATCH, window=8))  # noqa: B023
                )
                out["writer_single"].append(
                    _timed(lambda: _submit_all(writer, single, 1, window=64))  # noqa: B023
                )
                out["collector"].append(_timed(lambda: _collect_all(collector, whole)))  # noqa: B023
                print(f"  {synchronous} raw run {r + 1}: {[v[-1] for v in out.values()]}")
        finally:
            writer.stop()
            engine.dispose()
    return out


def _rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store rows for ``events``, validated and sessionised outside the timed window."""
    received = int(time.time() * 1000)
    rows = [validate_event(event, i, received) for i, event in enumerate(events)]
    valid = [row for row in rows if not isinstance(row, Rejection)]
    for row in valid:
        row["key_id"] = None
    Sessionizer(30).assign(valid)
    return valid


def _submit_all(
    writer: GroupCommitWriter, rows: list[dict[str, Any]], size: int, window: int
) -> int:
    """Submit ``rows`` in groups of ``size`` with ``window`` submissions in flight."""
    pending: deque[Future[Any]] = deque()
    for i in range(0, len(rows), size):
        pending.append(writer.submit(rows[i : i + size], []))
        if len(pending) >= window:
            pending.popleft().result()
    for future in pending:
        future.result()
    return len(rows)


def _collect_all(collector: Collector, events: list[dict[str, Any]]) -> int:
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        accepted = sum(result.accepted for result in pool.map(collector.ingest, batches))
    return int(accepted)


def summarize(
    http: dict[str, list[Measurement]], raw: dict[str, list[float]]
) -> dict[str, dict[str, float]]:
    """Medians over the repeated runs, phase by phase, and the HTTP / raw ratios."""
    out: dict[str, dict[str, float]] = {}
    for name, runs in http.items():
        out[name] = {
            field: median([getattr(m, field) for m in runs])
            for field in Measurement.__dataclass_fields__
        }
        # what one dedicated core would sustain: robust to other work competing for the CPUs
        per_cpu = [100 * m.events_per_s / m.server_cpu_pct for m in runs if m.server_cpu_pct > 0]
        out[name]["events_per_server_cpu_s"] = round(median(per_cpu))
    for name, rates in raw.items():
        out[f"raw_{name}"] = {"events_per_s": median(rates)}
    for phase, base in (("batch100_max", "writer_batch100"), ("single_max", "writer_single")):
        raw_rate = out[f"raw_{base}"]["events_per_s"]
        out[phase]["http_over_raw"] = round(out[phase]["events_per_s"] / raw_rate, 3)
    return out


def verdict(summary: dict[str, dict[str, float]]) -> dict[str, bool]:
    """The issue's targets, checked against the medians."""
    b, s = summary["batch100_at_target"], summary["single_at_target"]
    return {
        "batched_10k_events_per_s": summary["batch100_max"]["events_per_s"] >= TARGET_BATCHED,
        "single_2k_events_per_s": summary["single_max"]["events_per_s"] >= TARGET_SINGLE,
        "batched_p99_under_25ms_at_10k": b["p99_ms"] < TARGET_P99_MS
        and b["events_per_s"] >= 0.97 * TARGET_BATCHED,
        "single_p99_under_25ms_at_2k": s["p99_ms"] < TARGET_P99_MS
        and s["events_per_s"] >= 0.97 * TARGET_SINGLE,
    }


SCALED_SETUP = (
    "PostgreSQL + Redis: the store in a fresh PostgreSQL database (`SHOPWISE_DATABASE_URL`), "
    "the bus on Redis Streams and the online state in Redis (`SHOPWISE_REDIS_URL`), `shopwise "
    "serve --workers N` with `SHOPWISE_API_CONSUMERS=false` (`N API` in the first column; server "
    "CPU adds up the parent and its uvicorn processes) and one `shopwise worker` running the bus "
    "consumers and the scheduled jobs (`+ worker`). PostgreSQL, Redis, the worker and the client "
    "share the same cores; `postgres CPU` is the PostgreSQL processes connected to the run's "
    "database (a connection closed during a run loses its share: an undercount), `redis CPU` "
    "the `redis-server` process (another benchmark's low-rate traffic on it included). Raw "
    "rows go through the same writer into a fresh PostgreSQL database."
)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    scaled = any(b["config"]["backend"] != "embedded" for b in report["results"].values())
    backend = "PostgreSQL + Redis" if scaled else "SQLite"
    lines = [
        f"# Ingestion benchmark (`POST /v1/events`, {backend})",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, Python "
        f"{m['python']}; fsync of the SQLite disk p50 {report['fsync_ms']['p50']} ms, p99 "
        f"{report['fsync_ms']['p99']} ms. Load average {m['load_avg_at_start']} at start and "
        f"{report.get('load_avg_at_end')} at the end: the machine was shared with other work, "
        "so wall-clock rates are noisy and low; `events per server CPU-s` (events/s divided by "
        "the cores the server process used, closed-loop phases) estimates what one dedicated "
        "core would sustain.",
        "",
        f"Command: `{report['command']}` ({report['started']}; {report['repeats']} runs of "
        f"{report['seconds']} s per phase, medians shown).",
        "",
        "Server: `shopwise serve` (one uvicorn process) on 127.0.0.1 over a fresh SQLite file; "
        "`FULL` / `NORMAL` is `SHOPWISE_SQLITE_SYNCHRONOUS`; `api-only` runs the same app "
        "without in-process bus consumers (as when `shopwise worker` runs them); `+ worker` is "
        "that app with a `shopwise worker` running the consumers and the jobs beside it on the "
        "same cores (the setup `shopwise demo` starts). Client: one "
        "asyncio process (pre-encoded requests, keep-alive) on the same cores. Phases: `*_max` "
        "closed loop (8 connections with batches of 100; 64 connections with one event each); "
        "`*_at_target` open loop at 10,000 events/s (batches) and 2,000 events/s (singles), "
        "`*_light` open loop at 1,000 and 200 events/s (ack latency without a queue); "
        "open-loop latency counts from each request's scheduled send time. Raw rows: the same "
        "rows through the group-commit writer without HTTP (8 batches of 100, or 64 single "
        "rows, in flight), and the whole collector (validation + sessions + writer, 8 threads).",
        "",
    ]
    if scaled:
        lines += [SCALED_SETUP, ""]
    extra = ("worker", "postgres", "redis") if scaled else ()
    lines += [
        "| server | phase | events/s | requests/s | p50 ms | p99 ms | server CPU % "
        "| events per server CPU-s | client CPU % | errors |"
        + "".join(f" {name} CPU % |" for name in extra),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(extra),
    ]
    for config, block in report["results"].items():
        for phase in PHASES:
            s = block["summary"][phase.name]
            # per CPU-second only where the server is saturated (closed loop); elsewhere it idles
            per_cpu = f"{s['events_per_server_cpu_s']:,.0f}" if phase.request_rate is None else ""
            lines.append(
                f"| {config} | {phase.name} | {s['events_per_s']:,.0f} "
                f"| {s['requests_per_s']:,.0f} | {s['p50_ms']} | {s['p99_ms']} "
                f"| {s['server_cpu_pct']} | {per_cpu} | {s['client_cpu_pct']} | {s['errors']:.0f} |"
                + "".join(f" {s.get(f'{name}_cpu_pct', 0.0)} |" for name in extra)
            )
        for name in ("writer_batch100", "writer_single", "collector"):
            rate = block["summary"][f"raw_{name}"]["events_per_s"]
            blanks = " |" * (7 + len(extra))
            lines.append(f"| {config} | raw {name} (no HTTP) | {rate:,.0f} |{blanks}")
    lines += ["", "Targets (10,000 batched events/s, 2,000 single events/s, p99 < 25 ms):", ""]
    for config, block in report["results"].items():
        met = ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in block["targets"].items())
        ratio_b = block["summary"]["batch100_max"]["http_over_raw"]
        ratio_s = block["summary"]["single_max"]["http_over_raw"]
        lines.append(
            f"- {config}: {met}; HTTP / raw writer rate: batched {ratio_b}, single {ratio_s}"
        )
    lines += [
        "",
        "FULL fsyncs the WAL at every commit, so an acknowledged event survives power loss; "
        "NORMAL fsyncs only at checkpoints, so acknowledged events survive a process crash "
        "(`benchmarks/crash.py`) but the last commits before a power cut or kernel crash can be "
        "lost. Group commit shares one fsync among all requests waiting at that moment.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short run per phase (smoke)")
    parser.add_argument(
        "--configs",
        nargs="+",
        type=Config.parse,
        default=[Config.parse(c) for c in ("FULL", "NORMAL", "FULL:api-only")],
        help="server configurations (see Config.parse): FULL, NORMAL or postgres-redis, "
        "with :api-only, :worker, :workers=N and/or :warning",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--out", type=Path, default=None, help="results JSON path")
    add_backend_options(parser)
    args = parser.parse_args(argv)
    exit_on_sigterm()
    if args.quick:
        args.repeats, args.seconds, args.configs = 1, 1.5, args.configs[:1]
    if args.out is None:  # a smoke run never overwrites the committed results
        backends = sorted({c.backend for c in args.configs} - {"embedded"})
        name = "-".join(["ingest", *backends])
        args.out = RESULTS / ("tmp" if args.quick else "") / f"{name}.json"
    report: dict[str, Any] = {
        "command": shlex.join(["python", "benchmarks/ingest.py", *sys.argv[1:]]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "fsync_ms": fsync_latency_ms(),
        "repeats": args.repeats,
        "seconds": args.seconds,
        "phases": [asdict(p) for p in PHASES],
        "results": {},
    }
    raw: dict[str, dict[str, list[float]]] = {}
    for config in args.configs:
        with open_backend(config.backend, args.postgres_url, args.redis_url) as backend:
            http = http_runs(config, backend, args.repeats, args.seconds)
        store_name = config.synchronous if config.backend == "embedded" else config.backend
        if store_name not in raw:
            events = 2_000 if args.quick else 20_000
            with open_backend(config.backend, args.postgres_url, args.redis_url) as backend:
                raw[store_name] = raw_runs(config.synchronous, backend, args.repeats, events)
        summary = summarize(http, raw[store_name])
        report["results"][config.name] = {
            "config": asdict(config),
            "summary": summary,
            "targets": verdict(summary),
            "runs": {name: [asdict(m) for m in runs] for name, runs in http.items()},
            "raw_runs": raw[store_name],
        }
    report["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(write_report(args.out, report, markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
