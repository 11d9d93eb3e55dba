"""Soak: memory of every shopwise process and of Redis under long mixed traffic (issue 28).

Builds the quick demo shop on PostgreSQL + Redis Streams, trains the production recommender
(which precomputes the shoppers' lists), then runs the scale-out setup the way docs/deploy.md
describes it: ``shopwise serve --workers 2`` with ``SHOPWISE_API_CONSUMERS=false`` and one
``shopwise worker`` that runs the bus consumers and the scheduled jobs. An open-loop client
(Poisson arrivals at a fixed total rate, latency counted from each request's scheduled time)
sends a mix of single events and event batches under the public write key, recommendation
requests (anonymous shoppers under the write key, known customers under a secret key) and
identify calls. New shoppers arrive all the time, so any per-shopper state a process keeps
without a bound grows with the run.

Every ``--sample-seconds`` the resident memory (``VmRSS`` from ``/proc``) of the serve parent,
each uvicorn worker process (every descendant of the parent) and the worker is read, with
Redis ``INFO memory`` ``used_memory``, the number of keys under the prefix and the length of
each stream. The first ``--warmup-minutes`` are warm-up (caches filling, first refresh); growth
is measured from the last sample of the warm-up to the last sample of the run, and a linear fit
over the samples after the warm-up gives the slope. A process passes when its growth stays
under :data:`MAX_GROWTH`. Each sample also reads the machine's CPU accounting (busy and steal
time) and its speed (:class:`SpeedProbe`: the CPU time of fixed work in a process of its own),
so the report can set the recommendation latency of each stretch of the run beside what else
used the machine then (:func:`latency_blocks`), and the API's CPU a request in the minutes
without jobs beside the worker's and the machine's speed (:func:`speed_lines`).

The backends come from the environment, like every shopwise process's: an empty PostgreSQL
database in ``SHOPWISE_DATABASE_URL``, ``SHOPWISE_REDIS_URL`` and ``SHOPWISE_REDIS_PREFIX``
(the keys under that prefix are deleted first).

Run: ``SHOPWISE_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/soak
SHOPWISE_REDIS_URL=redis://127.0.0.1:6379/13 SHOPWISE_REDIS_PREFIX=soak
.venv/bin/python benchmarks/soak.py [--minutes M] [--rate R]``; ``--markdown-only`` rewrites the
report of a committed run from its JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HOST,
    RESULTS,
    HttpError,
    Server,
    _Connection,
    _die_with_parent,
    clear_prefix,
    connect,
    descendants,
    load_into,
    machine,
    percentile_ms,
    process_cpu_seconds,
    rss_bytes,
    run_async,
    shopwise_command,
    temp_dir,
    write_json,
)

MAX_GROWTH = 0.05
"""Largest resident-memory growth after the warm-up that passes (issue 28)."""
BLOCK_MINUTES = 10
"""Minutes of the run summarized together in the latency table."""
LONG_JOB_SECONDS = 1.0
"""A job run at least this long counts as load on the machine in the latency table."""
MIX = {"event": 0.45, "batch": 0.10, "recommend": 0.35, "identify": 0.10}
"""Share of the requests of each kind."""
BATCH_SIZE = 10
"""Events in one batched ``POST /v1/events``."""
NEW_SHOPPER_SHARE = 0.3
"""Share of event requests that come from a shopper never seen before."""
EXPERIMENT: dict[str, Any] = {
    "id": "soak-aa",
    "variants": [{"name": "control"}, {"name": "same"}],
    "holdout": 0.1,
}
"""An A/A test running on every placement through the run, so every recommendation request is
assigned (the assigner's per-shopper memory is in the sample)."""
ACTIVE_SHOPPERS = 2000
"""Recent anonymous shoppers the traffic draws its returning visits from."""
IDLE_SECONDS = 2.0
"""Longest a client connection waits idle for reuse (uvicorn's keep-alive timeout is longer)."""
MAX_IN_FLIGHT = 256
"""Requests outstanding at once; an arrival beyond it is counted as an error (shed)."""
_EVENT_TYPES = ("product_viewed", "product_viewed", "page_viewed", "product_added")


@dataclass
class Traffic:
    """Builds the raw HTTP requests of each kind, with shoppers arriving all the time."""

    port: int
    write_key: str
    secret_key: str
    products: list[dict[str, Any]]
    customers: list[str]
    rng: np.random.Generator
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    active: deque[str] = field(default_factory=lambda: deque(maxlen=ACTIVE_SHOPPERS))
    unidentified: deque[str] = field(default_factory=lambda: deque(maxlen=ACTIVE_SHOPPERS))
    counter: int = 0

    def _next_id(self, kind: str) -> str:
        self.counter += 1
        return f"soak-{kind}-{self.token}-{self.counter}"

    def _shopper(self) -> str:
        if not self.active or self.rng.random() < NEW_SHOPPER_SHARE:
            shopper = self._next_id("a")
            self.active.append(shopper)
            self.unidentified.append(shopper)
            return shopper
        return self.active[int(self.rng.integers(len(self.active)))]

    def _event(self) -> dict[str, Any]:
        product = self.products[int(self.rng.integers(len(self.products)))]
        kind = _EVENT_TYPES[int(self.rng.integers(len(_EVENT_TYPES)))]
        properties: dict[str, Any] = {}
        if kind != "page_viewed":
            properties = {
                "product_id": product["id"],
                "price": product["price"],
                "category": " > ".join(product["category"]),
            }
        if kind == "product_added":
            properties["quantity"] = 1
        return {
            "message_id": self._next_id("m"),
            "type": kind,
            "anonymous_id": self._shopper(),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "context": {
                "page": {"url": f"https://demo.shopwise.local/p/{product['id']}"},
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) soak",
                "locale": "en-GB",
                "ip": "203.0.113.9",
            },
            "properties": properties,
        }

    def request(self, kind: str) -> bytes:
        """A complete HTTP/1.1 request of ``kind`` (a key of :data:`MIX`)."""
        if kind == "event":
            return self._post("/v1/events", self.write_key, {"batch": [self._event()]})
        if kind == "batch":
            batch = [self._event() for _ in range(BATCH_SIZE)]
            return self._post("/v1/events", self.write_key, {"batch": batch})
        if kind == "identify":
            anonymous = self.unidentified.popleft() if self.unidentified else self._shopper()
            body = {
                "user_id": self._next_id("u"),
                "anonymous_id": anonymous,
                "traits": {"soak_cohort": self.token},
            }
            return self._post("/v1/identify", self.secret_key, body)
        if self.rng.random() < 0.3:
            customer = self.customers[int(self.rng.integers(len(self.customers)))]
            return self._get(f"/v1/recommendations?placement=home&n=10&user_id={customer}")
        product = self.products[int(self.rng.integers(len(self.products)))]["id"]
        query = f"placement=product&n=10&product_id={product}&anonymous_id={self._shopper()}"
        return self._get(f"/v1/recommendations?{query}", self.write_key)

    def _post(self, path: str, key: str, payload: dict[str, Any]) -> bytes:
        body = orjson.dumps(payload)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def _get(self, path: str, key: str | None = None) -> bytes:
        head = (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            f"Authorization: Bearer {key or self.secret_key}\r\n\r\n"
        )
        return head.encode()


@dataclass
class Minutes:
    """Latencies and errors of each kind, minute by minute of the run."""

    latencies: dict[tuple[int, str], list[float]] = field(default_factory=dict)
    errors: dict[tuple[int, str], int] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    """Errors by kind and cause (``event 503``, ``batch shed``, ...) over the whole run."""

    def record(self, minute: int, kind: str, latency: float | None, cause: str = "") -> None:
        if latency is None:
            self.errors[minute, kind] = self.errors.get((minute, kind), 0) + 1
            self.statuses[f"{kind} {cause}"] += 1
        else:
            self.latencies.setdefault((minute, kind), []).append(latency)

    def table(self, minutes: int) -> list[dict[str, Any]]:
        """One row a minute: per kind the requests, errors, p50 and p99 in milliseconds."""
        rows = []
        for minute in range(minutes):
            row: dict[str, Any] = {"minute": minute + 1}
            for kind in MIX:
                latencies = self.latencies.get((minute, kind), [])
                errors = self.errors.get((minute, kind), 0)
                row[kind] = {
                    "requests": len(latencies) + errors,
                    "errors": errors,
                    "p50_ms": percentile_ms(latencies, 50),
                    "p99_ms": percentile_ms(latencies, 99),
                }
            rows.append(row)
        return rows


class _Pool:
    """Idle keep-alive connections, opened as the open-loop traffic needs them.

    A connection idle for :data:`IDLE_SECONDS` is closed rather than reused: uvicorn closes
    idle keep-alive connections itself, and a request written as it does so is lost.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[_Connection, float]] = []

    async def _take(self) -> _Connection:
        now = time.perf_counter()
        while self.idle:
            conn, since = self.idle.pop()
            if conn.transport is not None and now - since < IDLE_SECONDS:
                return conn
            conn.close()
        return await connect(self.port)

    async def send(self, raw: bytes) -> int:
        conn = await self._take()
        try:
            status, _ = await conn.request(raw)
        except HttpError:
            conn.close()
            raise
        self.idle.append((conn, time.perf_counter()))
        return status

    def close(self) -> None:
        for conn, _ in self.idle:
            conn.close()


async def _one(
    pool: _Pool, kind: str, raw: bytes, scheduled: float, start: float, minutes: Minutes
) -> None:
    minute = int((scheduled - start) // 60)
    try:
        status = await pool.send(raw)
    except (HttpError, OSError):
        minutes.record(minute, kind, None, "connection")
        return
    if 200 <= status < 300:
        minutes.record(minute, kind, time.perf_counter() - scheduled)
    else:
        minutes.record(minute, kind, None, str(status))


async def drive(traffic: Traffic, rate: float, seconds: float, minutes: Minutes) -> float:
    """Open-loop traffic at ``rate`` requests a second for ``seconds``; returns its start."""
    pool = _Pool(traffic.port)
    kinds = list(MIX)
    shares = np.array(list(MIX.values()))
    in_flight: set[asyncio.Task[None]] = set()
    start = time.perf_counter()
    scheduled = start
    while scheduled < start + seconds:
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        kind = kinds[int(traffic.rng.choice(len(kinds), p=shares))]
        if len(in_flight) >= MAX_IN_FLIGHT:
            minutes.record(int((scheduled - start) // 60), kind, None, "shed")
        else:
            raw = traffic.request(kind)
            task = asyncio.create_task(_one(pool, kind, raw, scheduled, start, minutes))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        scheduled += float(traffic.rng.exponential(1 / rate))
    await asyncio.gather(*in_flight)
    pool.close()
    return start


def machine_cpu_seconds() -> dict[str, float]:
    """The machine's CPU seconds since boot from ``/proc/stat``, all cores together: ``busy``
    (user, nice, system, irq, softirq), ``steal`` (time the hypervisor gave other guests of a
    shared virtual machine, during which this one's runnable work waits) and ``all``."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return {
        "busy": (user + nice + system + irq + softirq) / tick,
        "steal": steal / tick,
        "all": (user + nice + system + idle + iowait + irq + softirq + steal) / tick,
    }


def _command_line(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    return ""


PROBE = """
import sys, time
import numpy as np

LOOP = 200_000
block = np.ones(8 * 2**20)


def cpu_seconds(work):
    began = time.process_time()
    work()
    return time.process_time() - began


def loop():
    total = 0
    for i in range(LOOP):
        total += i


for _ in sys.stdin:
    loops = sorted(cpu_seconds(loop) for _ in range(3))
    sweeps = sorted(cpu_seconds(block.sum) for _ in range(3))
    print(loops[1] * 1e9 / LOOP, sweeps[1] * 1e3, flush=True)
"""
"""The machine's speed, asked at every sample: the CPU time of a fixed pure-Python loop (ns an
iteration) and of summing a 64 MiB array (ms), medians of three; in a process of its own, so
the traffic's event loop never waits for it."""


SPEED = ("loop_ns", "sweep_ms")
"""The readings of :data:`PROBE`."""


class SpeedProbe:
    """Runs :data:`PROBE` in a child process and asks it for a reading."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", PROBE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_die_with_parent,
        )

    def read(self) -> dict[str, float]:
        """``loop_ns`` and ``sweep_ms`` now."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        loop_ns, sweep_ms = (float(v) for v in self.process.stdout.readline().split())
        return {"loop_ns": round(loop_ns, 3), "sweep_ms": round(sweep_ms, 3)}

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@dataclass
class Sampler:
    """Samples the processes' RSS and Redis's memory every ``interval`` seconds in a thread."""

    serve_pid: int
    worker_pid: int
    redis_url: str
    prefix: str
    database_url: str
    interval: float
    samples: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    origin: float = 0.0

    def processes(self) -> dict[str, int]:
        """Label -> pid of the serve parent, each of its descendants and the worker."""
        found = {"serve parent": self.serve_pid, "worker": self.worker_pid}
        for parent, name in ((self.serve_pid, "serve"), (self.worker_pid, "worker")):
            for pid in descendants(parent):
                command = _command_line(pid)
                label = f"{name} child {pid}"
                if "spawn_main" in command and name == "worker":
                    continue  # a job's own process: its run records its peak (job_log)
                if "spawn_main" in command:
                    label = f"uvicorn worker {pid}"
                elif "resource_tracker" in command:
                    label = f"{name} resource tracker {pid}"
                self.labels.setdefault(label, command)
                found[label] = pid
        return found

    def sample(self, client: Any, probe: SpeedProbe) -> dict[str, Any]:
        processes = self.processes()
        rss = {label: rss_bytes(pid) for label, pid in processes.items()}
        keys = list(client.scan_iter(match=f"{self.prefix}:*", count=1000))
        streams = {}
        for key in keys:
            if client.type(key) == b"stream":
                streams[key.decode()] = client.xlen(key)
        return {
            "t": round(time.perf_counter() - self.origin, 1),
            "rss": {k: v for k, v in rss.items() if v is not None},
            "cpu_seconds": {k: process_cpu_seconds(pid) for k, pid in processes.items()},
            "redis_used_memory": int(client.info("memory")["used_memory"]),
            "redis_keys": len(keys),
            "redis_stream_entries": sum(streams.values()),
            "redis_streams": streams,
            "profiles": self.profiles(),
            "machine_cpu": machine_cpu_seconds(),
            "speed": probe.read(),
        }

    def profiles(self) -> int | None:
        """Profiles in the store (each may hold a precomputed list in every serving process)."""
        import psycopg

        url = self.database_url.replace("postgresql+psycopg://", "postgresql://")
        with contextlib.suppress(psycopg.Error), psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM profiles").fetchone()
            return int(row[0]) if row else None
        return None

    def run(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        probe = SpeedProbe()
        try:
            while True:
                self.samples.append(self.sample(client, probe))
                if self.stop.wait(self.interval):
                    self.samples.append(self.sample(client, probe))
                    return
        finally:
            probe.close()
            client.close()


def job_log(database_url: str, origin: float) -> list[dict[str, Any]]:
    """Every run of the worker's jobs (``job_runs``): job, status, the minute of the run it
    started in (from ``origin``, epoch seconds), its seconds and, for a job run in a process of
    its own, that process's peak resident memory."""
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    query = (
        "SELECT job, status, started_at, finished_at, detail->>'peak_rss_mib' FROM job_runs"
        " ORDER BY started_at"
    )
    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute(query).fetchall()
    return [
        {
            "job": job,
            "status": status,
            "minute": round((started / 1000 - origin) / 60, 2),
            "seconds": None if finished is None else round((finished - started) / 1000, 2),
            "peak_rss_mib": None if peak is None else float(peak),
        }
        for job, status, started, finished, peak in rows
    ]


def job_table(runs: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: each job's runs, median and longest seconds, and the KPI job's run times
    in order (the job whose cost once grew through the day)."""
    lines = ["| job | runs | median s | longest s | last s |", "|---|---|---|---|---|"]
    for job in sorted({run["job"] for run in runs}):
        took = [run["seconds"] for run in runs if run["job"] == job and run["seconds"] is not None]
        if took:
            median, longest = float(np.median(took)), max(took)
            lines.append(f"| {job} | {len(took)} | {median:.2f} | {longest:.2f} | {took[-1]:.2f} |")
    kpis = [run for run in runs if run["job"] == "kpis" and run["seconds"] is not None]
    lines += [
        "",
        "The `kpis` job's runs (minute of the run it started in: seconds): "
        + ", ".join(f"{int(run['minute'])}: {run['seconds']}" for run in kpis)
        + ".",
    ]
    own = [run for run in runs if run.get("peak_rss_mib") is not None]
    for job in sorted({run["job"] for run in own}):
        lines += [
            "",
            f"The `{job}` job runs in a process of its own; its runs (minute: seconds, the "
            "process's peak resident memory): "
            + ", ".join(
                f"{int(run['minute'])}: {run['seconds']} s, {run['peak_rss_mib']} MiB"
                for run in own
                if run["job"] == job
            )
            + ".",
        ]
    return lines


def latency_blocks(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Each :data:`BLOCK_MINUTES` of the run: the recommendation p50 and p99 (medians of the
    minutes), the p99 of the minutes no job ran in for :data:`LONG_JOB_SECONDS` or more, and
    what the machine did meanwhile: the API processes' CPU a request (every kind of request
    counted), the worker's and the machine's busy and steal share, the seconds jobs ran and the
    profiles in the store at the block's end. Machine shares are absent for runs whose samples
    predate them."""
    samples = run["samples"]
    times, api, worker = _cpu_series(samples)
    profiles = [np.nan if s["profiles"] is None else s["profiles"] for s in samples]
    machine = [s.get("machine_cpu") for s in samples]
    minutes, jobs = run["per_minute"], run.get("job_runs", [])
    blocks = []
    for first in range(0, len(minutes), BLOCK_MINUTES):
        block = minutes[first : first + BLOCK_MINUTES]
        start, end = (block[0]["minute"] - 1) * 60.0, block[-1]["minute"] * 60.0

        def spent(series: list[float], start: float = start, end: float = end) -> float:
            return _spent(times, series, start, end)

        quiet = [
            m["recommend"]["p99_ms"]
            for m in block
            if _job_seconds(jobs, (m["minute"] - 1) * 60.0, m["minute"] * 60.0) < LONG_JOB_SECONDS
        ]
        requests = sum(m[kind]["requests"] for m in block for kind in MIX)
        row: dict[str, Any] = {
            "minutes": f"{block[0]['minute']}-{block[-1]['minute']}",
            "p50_ms": float(np.median([m["recommend"]["p50_ms"] for m in block])),
            "p99_ms": float(np.median([m["recommend"]["p99_ms"] for m in block])),
            "quiet_minutes": len(quiet),
            "quiet_p99_ms": float(np.median(quiet)) if quiet else None,
            "api_cpu_us_per_request": spent(api) / max(requests, 1) * 1e6,
            "worker_cpu_pct": spent(worker) / (end - start) * 100,
            "job_seconds": _job_seconds(jobs, start, end),
            "profiles_at_end": float(np.interp(end, times, profiles)),
        }
        if all(m is not None for m in machine):
            elapsed = spent([m["all"] for m in machine])
            for name in ("busy", "steal"):
                row[f"machine_{name}_pct"] = spent([m[name] for m in machine]) / elapsed * 100
        row |= speed_between(samples, start, end)
        blocks.append(row)
    return blocks


def speed_between(samples: list[dict[str, Any]], start: float, end: float) -> dict[str, float]:
    """The medians of the :class:`SpeedProbe` readings of the samples taken between ``start``
    and ``end`` (none for runs that predate the probe)."""
    readings = [s["speed"] for s in samples if "speed" in s and start <= s["t"] <= end]
    if not readings:
        return {}
    return {name: float(np.median([r[name] for r in readings])) for name in SPEED}


def minute_costs(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Every minute of the run: the API processes' CPU a request, the worker's CPU share, the
    machine's speed then (:func:`speed_between`), and whether the minute was quiet: no job of
    :data:`LONG_JOB_SECONDS` or more ran in it or in the minute before, so the worker did only
    its steady work (folding the steady traffic's events, and jobs shorter than that)."""
    times, api, worker = _cpu_series(run["samples"])
    jobs, rows = run.get("job_runs", []), []
    for minute in run["per_minute"]:
        start, end = (minute["minute"] - 1) * 60.0, minute["minute"] * 60.0
        requests = sum(minute[kind]["requests"] for kind in MIX)
        rows.append(
            {
                "minute": minute["minute"],
                "quiet": _job_seconds(jobs, start - 60.0, end) == 0,
                "api_cpu_us_per_request": _spent(times, api, start, end) / requests * 1e6,
                "worker_cpu_pct": _spent(times, worker, start, end) / (end - start) * 100,
                **speed_between(run["samples"], start, end),
            }
        )
    return rows


def quiet_minutes(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The quiet minutes of :func:`minute_costs`."""
    return [minute for minute in minute_costs(run) if minute["quiet"]]


def _cpu_series(samples: list[dict[str, Any]]) -> tuple[np.ndarray, list[float], list[float]]:
    """The samples' times, the API processes' CPU seconds added up, and the worker's."""
    times = np.array([s["t"] for s in samples], dtype=float)
    api = [sum(v for k, v in s["cpu_seconds"].items() if k.startswith("uvicorn")) for s in samples]
    worker = [s["cpu_seconds"].get("worker", np.nan) for s in samples]
    return times, api, worker


def _spent(times: np.ndarray, series: list[float], start: float, end: float) -> float:
    """How much a cumulative ``series`` sampled at ``times`` grew between ``start`` and ``end``."""
    return float(np.interp(end, times, series) - np.interp(start, times, series))


def _job_seconds(jobs: list[dict[str, Any]], start: float, end: float) -> float:
    """Seconds of ``[start, end)`` (seconds of the run) that jobs of a second or more ran in,
    added up over the jobs."""
    total = 0.0
    for job in jobs:
        seconds = job["seconds"]
        if seconds is None or seconds < LONG_JOB_SECONDS:
            continue
        began = job["minute"] * 60.0
        total += max(0.0, min(began + seconds, end) - max(began, start))
    return total


def latency_table(run: dict[str, Any]) -> list[str]:
    """:func:`latency_blocks` as Markdown lines."""
    blocks = latency_blocks(run)
    machine = bool(blocks) and "machine_busy_pct" in blocks[0]
    head = "| minutes | p50 ms | p99 ms | p99 ms, minutes without a job (count) "
    head += "| API CPU us a request | worker CPU % of a core | seconds of jobs | profiles at end |"
    rule = "|---|---|---|---|---|---|---|---|"
    speed = bool(blocks) and "loop_ns" in blocks[0]
    if machine:
        head += " machine busy % | steal % |"
        rule += "---|---|"
    if speed:
        head += " loop ns | sweep ms |"
        rule += "---|---|"
    lines = [head, rule]
    for b in blocks:
        quiet = "n/a" if b["quiet_p99_ms"] is None else f"{b['quiet_p99_ms']:.1f}"
        line = (
            f"| {b['minutes']} | {b['p50_ms']:.2f} | {b['p99_ms']:.1f} "
            f"| {quiet} ({b['quiet_minutes']}) | {b['api_cpu_us_per_request']:.0f} "
            f"| {b['worker_cpu_pct']:.0f} | {b['job_seconds']:.0f} | {b['profiles_at_end']:.0f} |"
        )
        if machine:
            line += f" {b['machine_busy_pct']:.0f} | {b['machine_steal_pct']:.1f} |"
        if speed:
            line += f" {b['loop_ns']:.1f} | {b['sweep_ms']:.2f} |"
        lines.append(line)
    return lines


def speed_lines(run: dict[str, Any]) -> list[str]:
    """What the API's CPU a request followed minute by minute, over every minute and over the
    quiet ones: the worker's CPU share and the machine's speed (none for runs that predate the
    probe)."""
    minutes = [m for m in minute_costs(run) if "loop_ns" in m]
    lines = []
    quiet = [m for m in minutes if m["quiet"]]
    named = (
        (minutes, f"all {len(minutes)} minutes"),
        (
            quiet,
            f"the {len(quiet)} quiet minutes (no job of a second or more in the minute or "
            "the one before it)",
        ),
    )
    for rows, which in named:
        if len(rows) < 3:
            continue
        cost = [m["api_cpu_us_per_request"] for m in rows]
        r = {
            name: f"{np.corrcoef(cost, [m[name] for m in rows])[0, 1]:.2f}"
            for name in ("worker_cpu_pct", *SPEED)
        }
        lines += [
            "",
            f"Over {which}, the API processes' CPU a request against the "
            f"worker's CPU share: r = {r['worker_cpu_pct']}; against the probe's loop: "
            f"{r['loop_ns']}; against its sweep: {r['sweep_ms']}.",
        ]
    return lines


def growth(samples: list[tuple[float, float]], warmup: float) -> dict[str, Any]:
    """Value at the end of the warm-up and at the end, growth, and the fitted slope an hour."""
    after = [(t, v) for t, v in samples if t >= warmup]
    before = [(t, v) for t, v in samples if t <= warmup]
    if not before or len(after) < 2:
        return {"samples": len(samples), "complete": False}
    start, end = before[-1][1], after[-1][1]
    times = np.array([t for t, _ in after]) / 3600
    values = np.array([v for _, v in after])
    slope = float(np.polyfit(times, values, 1)[0])
    return {
        "samples": len(samples),
        "complete": True,
        "at_warmup_mb": round(start / 2**20, 1),
        "at_end_mb": round(end / 2**20, 1),
        "max_mb": round(max(v for _, v in samples) / 2**20, 1),
        "growth_pct": round((end - start) / start * 100, 2),
        "slope_mb_per_hour": round(slope / 2**20, 2),
        "passed": (end - start) / start < MAX_GROWTH,
    }


def cpu_share(samples: list[tuple[float, float]]) -> float | None:
    """Percent of one core a process used between its first and last sample."""
    if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
        return None
    (t0, c0), (t1, c1) = samples[0], samples[-1]
    return round((c1 - c0) / (t1 - t0) * 100, 1)


def summarize(samples: list[dict[str, Any]], warmup: float) -> dict[str, Any]:
    """Growth of every process seen from the warm-up to the end, and of Redis."""
    labels = sorted({label for s in samples for label in s["rss"]})
    processes = {
        label: growth([(s["t"], s["rss"][label]) for s in samples if label in s["rss"]], warmup)
        | {
            "cpu_pct": cpu_share(
                [(s["t"], s["cpu_seconds"][label]) for s in samples if label in s["rss"]]
            )
        }
        for label in labels
    }
    redis = growth([(s["t"], s["redis_used_memory"]) for s in samples], warmup)
    redis["keys_at_warmup"] = max(
        (s["redis_keys"] for s in samples if s["t"] <= warmup), default=None
    )
    redis["keys_at_end"] = samples[-1]["redis_keys"]
    redis["max_stream_entries"] = max(s["redis_stream_entries"] for s in samples)
    profiles = [(s["t"], s["profiles"]) for s in samples if s.get("profiles") is not None]
    complete = [p for p in processes.values() if p["complete"]]
    return {
        "processes": processes,
        "redis": redis,
        "profiles_at_warmup": max((n for t, n in profiles if t <= warmup), default=None),
        "profiles_at_end": profiles[-1][1] if profiles else None,
        "passed": bool(complete) and all(p["passed"] for p in complete) and redis["passed"],
    }


def build_shop(data_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """The quick demo shop loaded over PostgreSQL + Redis, with a trained, promoted model."""
    from shopwise.experiments import Experiments, ExperimentSpec, validated
    from shopwise.runtime import Runtime
    from shopwise.settings import Settings
    from shopwise.simulate import SimulationConfig, simulate
    from shopwise.worker import train_recommenders

    shop = simulate(SimulationConfig.quick())
    settings = Settings(
        data_dir=data_dir,
        log_level="WARNING",
        database_url=env["SHOPWISE_DATABASE_URL"],
        redis_url=env["SHOPWISE_REDIS_URL"],
        redis_prefix=env["SHOPWISE_REDIS_PREFIX"],
    )
    runtime = Runtime.build(settings, migrate=True)
    runtime.start()
    try:
        last = load_into(runtime, shop)
        if not runtime.bus.wait_until_consumed(last, timeout=3600):
            raise TimeoutError("the shop's events were not consumed")
        model = train_recommenders(runtime, "shopwise", lambda _m: None)
        experiments = Experiments(runtime.engine)
        experiments.create(validated(ExperimentSpec, EXPERIMENT))
        experiments.start(EXPERIMENT["id"])
    finally:
        runtime.stop()
    return {
        "products": shop.products,
        "customers": [c.customer_id for c in shop.customers],
        "events": len(shop.events),
        "model": model,
    }


@dataclass
class ScaledServer(Server):
    """``shopwise serve --workers N`` over the environment's PostgreSQL and Redis."""

    backends: dict[str, str] = field(default_factory=dict)
    session_idle_minutes: int = 30

    def env(self) -> dict[str, str]:
        """The base environment with the backends, and a per-shopper rate limit above the
        offered load: every simulated browser posts its events from the client's one address,
        which the write key's per-shopper bucket would otherwise throttle as one shopper."""
        env = super().env()
        env.update(self.backends)
        env.update(
            SHOPWISE_RATE_LIMIT_PER_SHOPPER_PER_SECOND="1000000",
            SHOPWISE_RATE_LIMIT_PER_SHOPPER_BURST="1000000",
            SHOPWISE_SESSION_IDLE_MINUTES=str(self.session_idle_minutes),
        )
        return env


def start_worker(
    server: ScaledServer, refresh_minutes: float, scores_minutes: float
) -> subprocess.Popen[bytes]:
    """``shopwise worker`` with the server's environment, logging into its data dir."""
    intervals = ["--refresh-minutes", str(refresh_minutes), "--scores-minutes", str(scores_minutes)]
    with (server.data_dir / "worker.log").open("ab") as log:
        return subprocess.Popen(
            [*shopwise_command(), "worker", *intervals],
            env=server.env(),
            stdout=log,
            stderr=log,
            preexec_fn=_die_with_parent,
        )


def soak(args: argparse.Namespace, backends: dict[str, str], data_dir: Path) -> dict[str, Any]:
    """Build the shop, start serve and worker, drive the traffic while sampling; the results."""
    client = redis.Redis.from_url(backends["SHOPWISE_REDIS_URL"])
    try:
        cleared = clear_prefix(client, backends["SHOPWISE_REDIS_PREFIX"])
    finally:
        client.close()
    shop = build_shop(data_dir, backends)
    server = ScaledServer(
        data_dir,
        log_level="INFO",
        consumers=False,
        backends=backends,
        session_idle_minutes=args.session_idle_minutes,
    )
    server.command = [
        *shopwise_command(),
        "serve",
        "--workers",
        str(args.workers),
        "--host",
        HOST,
        "--port",
        str(server.port),
    ]
    server.start()
    worker = start_worker(server, args.refresh_minutes, args.scores_minutes)
    sampler: Sampler | None = None
    try:
        traffic = Traffic(
            port=server.port,
            write_key=server.create_key("write"),
            secret_key=server.create_key("secret"),
            products=shop["products"],
            customers=shop["customers"],
            rng=np.random.default_rng(args.seed),
        )
        sampler = Sampler(
            server.pid,
            worker.pid,
            backends["SHOPWISE_REDIS_URL"],
            backends["SHOPWISE_REDIS_PREFIX"],
            backends["SHOPWISE_DATABASE_URL"],
            args.sample_seconds,
        )
        minutes = Minutes()
        thread = threading.Thread(target=sampler.run, daemon=True)
        sampler.origin = time.perf_counter()
        origin = time.time()
        thread.start()
        run_async(drive(traffic, args.rate, args.minutes * 60, minutes))
        sampler.stop.set()
        thread.join(timeout=60)
        worker_exit = worker.poll()
        jobs = job_log(backends["SHOPWISE_DATABASE_URL"], origin)
    finally:
        worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=60)
        server.stop()
    warmup = args.warmup_minutes * 60
    return {
        "setup": {
            "shop": {k: v for k, v in shop.items() if k not in ("products", "customers")}
            | {"products": len(shop["products"]), "customers": len(shop["customers"])},
            "serve_workers": args.workers,
            "redis_keys_cleared": cleared,
            "mix": MIX,
            "batch_size": BATCH_SIZE,
            "new_shopper_share": NEW_SHOPPER_SHARE,
            "rate_rps": args.rate,
            "minutes": args.minutes,
            "warmup_minutes": args.warmup_minutes,
            "sample_seconds": args.sample_seconds,
            "session_idle_minutes": args.session_idle_minutes,
            "refresh_minutes": args.refresh_minutes,
            "scores_minutes": args.scores_minutes,
            "experiment": EXPERIMENT,
            "worker_exited_early": worker_exit,
        },
        "per_minute": minutes.table(int(np.ceil(args.minutes))),
        "errors_by_cause": dict(minutes.statuses),
        "samples": sampler.samples,
        "process_command_lines": sampler.labels,
        "memory": summarize(sampler.samples, warmup),
        "job_runs": jobs,
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def plot(result: dict[str, Any], path: Path) -> bool:
    """Memory over time (processes' RSS, Redis used_memory) as a PNG; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    samples = result["results"]["samples"]
    warmup = result["results"]["setup"]["warmup_minutes"]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for label in result["results"]["memory"]["processes"]:
        points = [(s["t"] / 60, s["rss"][label] / 2**20) for s in samples if label in s["rss"]]
        top.plot(*zip(*points, strict=True), label=label)
    top.set_ylabel("RSS (MiB)")
    top.legend(fontsize="small")
    bottom.plot([s["t"] / 60 for s in samples], [s["redis_used_memory"] / 2**20 for s in samples])
    bottom.set_ylabel("Redis used_memory (MiB)")
    bottom.set_xlabel("minutes")
    for axis in (top, bottom):
        axis.axvline(warmup, color="grey", linestyle="--")
        axis.set_ylim(bottom=0)
    figure.suptitle("shopwise soak: memory over time (dashed: end of warm-up)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def render(result: dict[str, Any]) -> str:
    """The results as Markdown, from a result as written to JSON."""
    run, m = result["results"], result["machine"]
    setup, memory = run["setup"], run["memory"]
    shop = setup["shop"]
    lines = [
        f"# Soak ({setup['minutes']} minutes of mixed traffic, scale-out on PostgreSQL + Redis)",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, shared by the "
        f"server, the worker, PostgreSQL, Redis and the client (load average at start "
        f"{m['load_avg_at_start']}, at end {run['load_avg_at_end']}). "
        f"Command: `{result['command']}`.",
        "",
        f"Setup: the quick demo shop ({shop['products']} products, {shop['customers']} "
        f"customers, {shop['events']} events; model {shop['model']['model']} "
        f"{shop['model']['version']}), `shopwise serve --workers {setup['serve_workers']}` with "
        "`SHOPWISE_API_CONSUMERS=false` and one `shopwise worker`. Open-loop Poisson traffic "
        f"at {setup['rate_rps']} requests/s: "
        + ", ".join(f"{kind} {share:.0%}" for kind, share in setup["mix"].items())
        + f" (batches of {setup['batch_size']} events; {setup['new_shopper_share']:.0%} of "
        "event requests from a shopper never seen before). "
        f"`SHOPWISE_SESSION_IDLE_MINUTES={setup['session_idle_minutes']}` (Redis keeps a "
        "session twice that, so the session keys reach their steady state within the "
        f"warm-up); the worker refreshes the candidates every {setup['refresh_minutes']} "
        "minutes and the customer scores every "
        f"{setup.get('scores_minutes', 60)} minutes, so several of each fall in the run. An A/A "
        "test "
        f"(`{setup['experiment']['id']}`, holdout {setup['experiment']['holdout']:.0%}) runs on "
        "every placement, so every recommendation request is assigned. Warm-up: the first "
        f"{setup['warmup_minutes']} minutes. Memory sampled every {setup['sample_seconds']} s; "
        f"pass: growth under {MAX_GROWTH:.0%} from the end of the warm-up to the end.",
        "",
        "| process | RSS at warm-up end MiB | at end MiB | max MiB | growth % "
        "| slope MiB/h | pass | CPU % of a core |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [*memory["processes"].items(), ("Redis used_memory", memory["redis"])]
    for label, g in rows:
        if not g["complete"]:
            lines.append(f"| {label} | (gone before the end: {g['samples']} samples) ||||||")
            continue
        lines.append(
            f"| {label} | {g['at_warmup_mb']} | {g['at_end_mb']} | {g['max_mb']} "
            f"| {g['growth_pct']} | {g['slope_mb_per_hour']} | {'yes' if g['passed'] else 'NO'} "
            f"| {g.get('cpu_pct', '')} |"
        )
    redis = memory["redis"]
    lines += [
        "",
        "Redis `used_memory` is the whole server's (any other database on it included); "
        f"keys under the prefix: {redis['keys_at_warmup']} at the end of the warm-up, "
        f"{redis['keys_at_end']} at the end; stream entries at most "
        f"{redis['max_stream_entries']}. Profiles in the store: {memory['profiles_at_warmup']} "
        f"at the end of the warm-up, {memory['profiles_at_end']} at the end. "
        f"Overall: {'PASS' if memory['passed'] else 'FAIL'}.",
        "",
        "Errors by kind and cause over the run: "
        + (", ".join(f"{k}: {v}" for k, v in run["errors_by_cause"].items()) or "none")
        + ".",
        "",
        "The worker's job runs over the run (`job_runs`, minutes from the start of the "
        "traffic; runs before it belong to building the shop):",
        "",
        *job_table(run.get("job_runs", [])),
        "",
        f"Recommendation latency over the run, {BLOCK_MINUTES} minutes at a time, beside what "
        "else the machine did (the API processes' CPU a request counts every kind of request "
        "and their background threads; the worker's leaves out the jobs run in processes of "
        "their own; busy and steal are the whole machine's, all cores, steal being time the "
        "hypervisor gave other guests; loop and sweep are the machine's speed, the CPU time "
        "of a fixed pure-Python loop an iteration and of summing a 64 MiB array, read by a "
        "probe process at every sample):",
        "",
        *latency_table(run),
        *speed_lines(run),
        "",
        "Per minute (requests, errors, p50 / p99 ms):",
        "",
        "| minute | " + " | ".join(MIX) + " |",
        "|---|" + "---|" * len(MIX),
    ]
    for row in run["per_minute"]:
        cells = [
            f"{row[k]['requests']}, {row[k]['errors']}, {row[k]['p50_ms']} / {row[k]['p99_ms']}"
            for k in MIX
        ]
        lines.append(f"| {row['minute']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup-minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=60.0, help="requests a second, in all")
    parser.add_argument("--sample-seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn processes")
    parser.add_argument(
        "--refresh-minutes",
        type=float,
        default=7.0,
        help="the worker's candidate refresh interval: several refreshes fall in the run, and "
        "off the KPI job's 5-minute beat, so a step in the worker's memory shows which job made it",
    )
    parser.add_argument(
        "--scores-minutes",
        type=float,
        default=13.0,
        help="the worker's customer score refresh interval: the job reads the whole population, "
        "so several runs fall in the run as the store grows",
    )
    parser.add_argument(
        "--session-idle-minutes",
        type=int,
        default=2,
        help="SHOPWISE_SESSION_IDLE_MINUTES: Redis keeps a session for twice this, so a short "
        "idle time lets the session keys reach their steady state within the warm-up",
    )
    parser.add_argument("--seed", type=int, default=28)
    parser.add_argument("--name", default="soak", help="results/<name>.{json,md,png}")
    parser.add_argument(
        "--markdown-only",
        action="store_true",
        help="rewrite results/<name>.md from results/<name>.json without running",
    )
    args = parser.parse_args()
    if args.markdown_only:
        written = json.loads((RESULTS / f"{args.name}.json").read_text())
        (RESULTS / f"{args.name}.md").write_text(render(written))
        return 0
    names = ("SHOPWISE_DATABASE_URL", "SHOPWISE_REDIS_URL", "SHOPWISE_REDIS_PREFIX")
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        sys.exit(f"set {', '.join(missing)} (see the module docstring)")
    backends = {n: os.environ[n] for n in names}
    command = "python benchmarks/soak.py" + "".join(
        f" --{option.replace('_', '-')} {getattr(args, option)}"
        for option, default in (
            ("minutes", 30.0),
            ("warmup_minutes", 5.0),
            ("rate", 60.0),
            ("workers", 2),
            ("refresh_minutes", 7.0),
            ("scores_minutes", 13.0),
        )
        if getattr(args, option) != default
    )
    started = time.perf_counter()
    result: dict[str, Any] = {"benchmark": "soak", "command": command, "machine": machine()}
    with temp_dir("shopwise-soak-") as data_dir:
        result["results"] = soak(args, backends, data_dir)
    result["seconds"] = round(time.perf_counter() - started, 1)
    png = RESULTS / f"{args.name}.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    result["plot"] = png.name if plot(result, png) else None
    write_json(RESULTS / f"{args.name}.json", result)
    markdown = render(result)
    (RESULTS / f"{args.name}.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
