"""Segment compatibility overhead: ``POST /segment/v1/batch`` against ``POST /v1/events`` (issue 9).

Starts one ``shopwise serve`` on 127.0.0.1 over a fresh SQLite data directory and offers the same
events both ways: as our envelopes to ``/v1/events`` (Bearer key) and as the equivalent Segment
messages (``track "Product Viewed"``, ``page`` ...; camelCase, Segment context, HTTP Basic with the
write key) to ``/segment/v1/batch``. Each run is a closed loop of batches of ``--batch`` events on
``--connections`` keep-alive connections for ``--seconds``; runs alternate between the endpoints
(``--repeats`` each) so drifting machine load hits both alike, and every event carries a fresh
message id so none is a duplicate. Both carry the same fields (``context.library`` included), so
both store the same rows. Reported: median events/s of each, and the ratio (the issue
asks for the Segment path within 20% of ours). The client is the lean asyncio client of
``_common.py`` and shares the machine's cores with the server.

    python benchmarks/segment_batch.py [--quick] [--sync FULL] [--repeats 3] [--seconds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import shlex
import sys
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from _common import (
    HOST,
    RESULTS,
    HttpError,
    Server,
    connect,
    machine,
    make_events,
    median,
    percentile_ms,
    process_cpu_seconds,
    request_bytes,
    run_async,
    temp_dir,
    write_json,
)

TARGET_RATIO = 0.8
LIBRARY = {"name": "analytics-python", "version": "2.4.0"}
"""Sent both ways: SDKs name themselves in ``context.library``, and our envelope keeps it."""
_EVENT_NAMES = {
    "product_viewed": "Product Viewed",
    "product_added": "Product Added",
}


def benchmark_events(count: int, rng: np.random.Generator, prefix: str) -> list[dict[str, Any]]:
    """``_common.make_events`` with the SDK's ``context.library``, as an SDK would send them."""
    events = make_events(count, rng, prefix)
    for event in events:
        event["context"]["library"] = LIBRARY
    return events


def to_segment(event: dict[str, Any]) -> dict[str, Any]:
    """The Segment message an SDK would send for one of our benchmark envelopes."""
    context = event["context"]
    message: dict[str, Any] = {
        "messageId": event["message_id"],
        "anonymousId": event["anonymous_id"],
        "timestamp": event["timestamp"],
        "context": {
            "page": context["page"],
            "userAgent": context["user_agent"],
            "locale": context["locale"],
            "ip": context["ip"],
            "library": LIBRARY,
        },
        "properties": event["properties"],
        "integrations": {},
    }
    if event["type"] == "page_viewed":
        return {**message, "type": "page", "name": "Home"}
    return {**message, "type": "track", "event": _EVENT_NAMES[event["type"]]}


def segment_request(port: int, key: str, events: list[dict[str, Any]]) -> bytes:
    """A complete ``POST /segment/v1/batch`` request as analytics-python sends it."""
    sent_at = datetime.now(UTC).isoformat()
    body = orjson.dumps({"batch": [to_segment(e) for e in events], "sentAt": sent_at})
    auth = base64.b64encode(f"{key}:".encode()).decode()
    head = (
        f"POST /segment/v1/batch HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Basic {auth}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Run:
    """What one closed-loop run measured."""

    endpoint: str
    events_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_pct: float
    server_cpu_us_per_event: float


def prepare(
    endpoint: str, port: int, key: str, batch: int, count: int, rng: np.random.Generator
) -> deque[bytes]:
    """Pre-encoded requests for one run (encoding is not part of what is measured)."""
    events = benchmark_events(count, rng, prefix=f"{endpoint}-{rng.integers(1 << 40)}")
    build = segment_request if endpoint == "segment" else request_bytes
    return deque(build(port, key, events[i : i + batch]) for i in range(0, count, batch))


async def _worker(
    port: int, requests: deque[bytes], until: float, latencies: list[float], errors: list[int]
) -> int:
    conn = await connect(port)
    sent = 0
    try:
        while time.perf_counter() < until and requests:
            raw = requests.popleft()
            started = time.perf_counter()
            try:
                status, _body = await conn.request(raw)
            except HttpError:
                errors.append(1)
                conn = await connect(port)
                continue
            latencies.append(time.perf_counter() - started)
            if status == 200:
                sent += 1
            else:
                errors.append(status)
    finally:
        conn.close()
    return sent


async def _drive(
    port: int, requests: deque[bytes], connections: int, seconds: float
) -> tuple[int, float, list[float], list[int]]:
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    until = started + seconds
    done = await asyncio.gather(
        *(_worker(port, requests, until, latencies, errors) for _ in range(connections))
    )
    return sum(done), time.perf_counter() - started, latencies, errors


def run_once(
    server: Server, endpoint: str, key: str, args: argparse.Namespace, rng: np.random.Generator
) -> Run:
    requests = prepare(endpoint, server.port, key, args.batch, args.events_per_run, rng)
    cpu_before = process_cpu_seconds(server.pid)
    ok, elapsed, latencies, errors = run_async(
        _drive(server.port, requests, args.connections, args.seconds)
    )
    cpu = process_cpu_seconds(server.pid) - cpu_before
    if not requests:
        print(f"warning: {endpoint} ran out of prepared requests", file=sys.stderr)
    stored = ok * args.batch
    return Run(
        endpoint=endpoint,
        events_per_s=round(stored / elapsed, 1),
        p50_ms=percentile_ms(latencies, 50),
        p99_ms=percentile_ms(latencies, 99),
        errors=len(errors),
        server_cpu_pct=round(100 * cpu / elapsed, 1),
        server_cpu_us_per_event=round(cpu / stored * 1e6, 1) if stored else float("nan"),
    )


def measure(synchronous: str, args: argparse.Namespace) -> dict[str, Any]:
    """Alternating runs of both endpoints on one server in ``synchronous`` mode."""
    rng = np.random.default_rng(args.seed)
    with temp_dir("shopwise-segment-bench-") as data_dir:
        server = Server(data_dir, synchronous=synchronous, log_level="WARNING")
        server.start()
        try:
            key = server.create_key("write")
            runs: list[Run] = []
            for repeat in range(args.repeats):
                order = ("events", "segment") if repeat % 2 == 0 else ("segment", "events")
                for endpoint in order:
                    runs.append(run_once(server, endpoint, key, args, rng))
                    print(runs[-1], file=sys.stderr)
        finally:
            server.stop()

    def of(endpoint: str, metric: str) -> float:
        return median([getattr(r, metric) for r in runs if r.endpoint == endpoint])

    ratio = round(of("segment", "events_per_s") / of("events", "events_per_s"), 3)
    cpu_ratio = round(
        of("events", "server_cpu_us_per_event") / of("segment", "server_cpu_us_per_event"), 3
    )
    return {
        "synchronous": synchronous,
        "events_per_s": {
            "v1_events": of("events", "events_per_s"),
            "segment_batch": of("segment", "events_per_s"),
        },
        "server_cpu_us_per_event": {
            "v1_events": of("events", "server_cpu_us_per_event"),
            "segment_batch": of("segment", "server_cpu_us_per_event"),
        },
        "ratio_segment_to_events": ratio,
        "cpu_capacity_ratio": cpu_ratio,
        "within_20_percent": bool(ratio >= TARGET_RATIO),
        "runs": [r.__dict__ for r in runs],
    }


def cpu_cost(events_count: int, seed: int) -> dict[str, float]:
    """Microseconds of CPU per event, in process: our validation alone, and translation + it.

    No HTTP and no store: this is the compatibility layer's own cost, steadier than throughput
    on a shared machine.
    """
    from shopwise.collect import validate_event
    from shopwise.collect.tracking_api import SegmentTranslator

    events = benchmark_events(events_count, np.random.default_rng(seed), prefix="cpu")
    messages = [to_segment(e) for e in events]
    translator = SegmentTranslator()
    received = datetime.now(UTC)

    def ours() -> None:
        for event in events:
            validate_event(event, 0, 0)

    def theirs() -> None:
        for message in messages:
            validate_event(translator.translate(message, received, received), 0, 0)

    timings: dict[str, list[float]] = {"validate": [], "translate_and_validate": []}
    for _ in range(3):
        for name, fn in (("validate", ours), ("translate_and_validate", theirs)):
            started = time.process_time()
            fn()
            timings[name].append((time.process_time() - started) / events_count * 1e6)
    return {f"{name}_us_per_event": median(values) for name, values in timings.items()}


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Segment-compatible batch ingestion vs /v1/events",
        "",
        f"Machine: {m['cpu_model']} ({m['cores']} cores, {m['memory_gb']} GB, load at start "
        f"{m['load_avg_at_start']}; shared with other jobs, timings noisy).",
        f"Command: `{report['command']}`.",
        f"Closed loop, {report['params']['connections']} connections, batches of "
        f"{report['params']['batch']} events, {report['params']['seconds']} s a run, median of "
        f"{report['params']['repeats']} alternating runs per endpoint; one `shopwise serve`.",
        "",
        "| SQLite synchronous | /v1/events ev/s | /segment/v1/batch ev/s | ratio | within 20% "
        "| server CPU us/event, ours | server CPU us/event, segment | capacity ratio (CPU) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in report["results"]:
        eps = result["events_per_s"]
        cpu = result["server_cpu_us_per_event"]
        lines.append(
            f"| {result['synchronous']} | {eps['v1_events']:.0f} | {eps['segment_batch']:.0f} "
            f"| {result['ratio_segment_to_events']:.2f} | {result['within_20_percent']} "
            f"| {cpu['v1_events']:.0f} | {cpu['segment_batch']:.0f} "
            f"| {result['cpu_capacity_ratio']:.2f} |"
        )
    lines += [
        "",
        "Capacity ratio (CPU) = server CPU per event on /v1/events divided by that on "
        "/segment/v1/batch: the throughput ratio the server would reach when CPU-bound, and "
        "less sensitive than events/s to other jobs on a shared machine.",
    ]
    cost = report["cpu_cost"]
    lines += [
        "",
        "In process, CPU per event (median of 3 passes over "
        f"{report['params']['cpu_events']} events): validation alone "
        f"{cost['validate_us_per_event']:.1f} us, Segment translation + validation "
        f"{cost['translate_and_validate_us_per_event']:.1f} us.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--sync", nargs="+", default=["FULL"], choices=["FULL", "NORMAL"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--events-per-run", type=int, default=120_000)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--cpu-events", type=int, default=20_000)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.seconds, args.events_per_run, args.cpu_events = 1, 2.0, 20_000, 2000
    report = {
        "machine": machine(),
        "command": "python benchmarks/segment_batch.py " + shlex.join(argv or sys.argv[1:]),
        "params": {k: v for k, v in vars(args).items() if k != "quick"},
        "cpu_cost": cpu_cost(args.cpu_events, args.seed),
        "results": [measure(mode, args) for mode in args.sync],
    }
    name = "segment_batch_quick" if args.quick else "segment_batch"
    write_json(RESULTS / f"{name}.json", report)
    (RESULTS / f"{name}.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
