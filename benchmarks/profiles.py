"""Profile read latency on SQLite with the demo shop loaded (5,000 customers, ~500k events).

Loads the full simulated shop through the ingestion and catalog services, waits for the profile
consumer, then measures reads of random profiles (by user id, anonymous id and profile id):
in-process through ``Profiles.get`` and over HTTP (``GET /v1/profiles/{id}`` on ``shopwise serve``,
one keep-alive client, sequential), beside ``GET /healthz`` of the same server in the same run
(the framework's floor). Medians of repeated rounds are reported.

Run: ``.venv/bin/python benchmarks/profiles.py [--quick]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HOST,
    RESULTS,
    Server,
    connect,
    load_into,
    machine,
    median,
    percentile_ms,
    run_async,
    temp_dir,
    write_json,
)
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.simulate import SimulationConfig, simulate


def _load(data_dir: Path, quick: bool) -> tuple[list[str], dict[str, Any]]:
    config = SimulationConfig.quick() if quick else SimulationConfig()
    shop = simulate(config)
    runtime = Runtime.build(Settings(data_dir=data_dir, log_level="WARNING"), migrate=True)
    runtime.start()
    started = time.perf_counter()
    last = load_into(runtime, shop)
    loaded = time.perf_counter() - started
    assert runtime.bus.wait_until_consumed(last, timeout=1800)
    consumed = time.perf_counter() - started
    candidates = [c.customer_id for c in shop.customers]
    candidates += [a for c in shop.customers for a in c.anonymous_ids][: len(candidates)]
    known = {i: runtime.profiles.canonical(i) for i in candidates}
    ids = [i for i, profile in known.items() if profile is not None]  # shoppers with events
    ids += sorted({p for p in known.values() if p is not None})[:1000]
    runtime.stop()
    return ids, {
        "events": len(shop.events),
        "customers": len(shop.customers),
        "load_seconds": round(loaded, 1),
        "load_and_profiles_seconds": round(consumed, 1),
    }


def _in_process(data_dir: Path, ids: list[str], rng: np.random.Generator, n: int) -> list[float]:
    runtime = Runtime.build(Settings(data_dir=data_dir, log_level="WARNING"))
    latencies = []
    for any_id in rng.choice(ids, size=n):
        start = time.perf_counter()
        view = runtime.profiles.get(str(any_id))
        latencies.append(time.perf_counter() - start)
        assert view is not None
    runtime.engine.dispose()
    return latencies


async def _http(port: int, key: str, paths: list[str]) -> list[float]:
    conn = await connect(port)
    latencies = []
    try:
        for path in paths:
            raw = (
                f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {key}\r\n\r\n"
            ).encode()
            start = time.perf_counter()
            status, _body = await conn.request(raw)
            latencies.append(time.perf_counter() - start)
            assert status == 200, status
    finally:
        conn.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick shop, fewer requests")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    requests = 300 if args.quick else 2000
    with temp_dir("shopwise-profiles-bench-") as data_dir:
        ids, loaded = _load(data_dir, args.quick)
        rounds: dict[str, list[dict[str, float]]] = {"in_process": [], "http": [], "healthz": []}
        for _ in range(args.rounds):
            lat = _in_process(data_dir, ids, rng, requests)
            rounds["in_process"].append(
                {"p50": percentile_ms(lat, 50), "p99": percentile_ms(lat, 99)}
            )
        server = Server(data_dir, log_level="WARNING")
        server.start()
        try:
            key = server.create_key("secret")
            for _ in range(args.rounds):
                paths = [f"/v1/profiles/{i}" for i in rng.choice(ids, size=requests)]
                lat = run_async(_http(server.port, key, paths))
                rounds["http"].append(
                    {"p50": percentile_ms(lat, 50), "p99": percentile_ms(lat, 99)}
                )
                floor = run_async(_http(server.port, key, ["/healthz"] * requests))
                rounds["healthz"].append(
                    {"p50": percentile_ms(floor, 50), "p99": percentile_ms(floor, 99)}
                )
        finally:
            server.stop()
    summary = {
        name: {q: median([r[q] for r in values]) for q in ("p50", "p99")}
        for name, values in rounds.items()
    }
    ratio = round(summary["http"]["p50"] / summary["healthz"]["p50"], 2)
    result = {
        "benchmark": "profile read latency",
        "command": "python benchmarks/profiles.py" + (" --quick" if args.quick else ""),
        "machine": machine(),
        "shop": loaded,
        "requests_per_round": requests,
        "rounds": rounds,
        "median_ms": summary,
        "http_p50_over_healthz_p50": ratio,
    }
    name = "tmp/profiles-quick" if args.quick else "profiles"  # quick runs are not results
    write_json(RESULTS / f"{name}.json", result)
    shop = f"{loaded['customers']} customers, {loaded['events']} events, SQLite"
    box = result["machine"]
    rows = [
        ("`Profiles.get` in process", summary["in_process"]),
        ("`GET /v1/profiles/{id}` over HTTP", summary["http"]),
        ("`GET /healthz` (floor, same server)", summary["healthz"]),
    ]
    lines = [
        f"# Profile read latency ({shop})",
        "",
        f"Machine: {box['cpu_model']}, {box['cores']} cores. Command: `{result['command']}`. "
        f"Medians of {args.rounds} rounds of {requests} reads.",
        "",
        "| path | p50 ms | p99 ms |",
        "|---|---|---|",
        *[f"| {label} | {row['p50']} | {row['p99']} |" for label, row in rows],
        "",
        f"HTTP profile read p50 is {ratio}x the floor's. Loading the shop took "
        f"{loaded['load_seconds']} s, profiles current after "
        f"{loaded['load_and_profiles_seconds']} s.",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
