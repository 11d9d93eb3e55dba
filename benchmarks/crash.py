"""Crash benchmark: ``kill -9`` the server under load and check that no acknowledged event is lost.

Issue 3 promises that a ``200`` from ``POST /v1/events`` is sent only after the accepted events are
committed, and that a client retry never stores an event twice. This script runs ``shopwise serve``
(SQLite, ``SHOPWISE_SQLITE_SYNCHRONOUS`` FULL by default) on 127.0.0.1 and, round after round:

1. starts the server over the same data directory and, once it is ready, opens the SQLite file
   read-only and checks that every ``message_id`` ever acknowledged is stored, and none twice;
2. retries, like a client whose request timed out, every batch that was in flight at the last kill
   (some of those were committed before the kill and must come back as duplicates), and re-sends one
   acknowledged batch (all duplicates);
3. loads the server with concurrent batched and single-event clients for a random fraction of a
   second and sends it ``SIGKILL`` while requests are in flight.

After the last round the server is started once more for the final check, then stopped. Per-round
counts go to ``benchmarks/results/crash.json`` and ``crash.md``; ``--quick`` runs 3 rounds.

    python benchmarks/crash.py [--quick] [--rounds 20] [--sync FULL] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sqlite3
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from _common import (
    RESULTS,
    HttpError,
    Server,
    connect,
    exit_on_sigterm,
    machine,
    make_events,
    request_bytes,
    run_async,
    temp_dir,
    write_report,
)

Batch = list[dict[str, Any]]


@dataclass
class Ledger:
    """What the client knows: acknowledged ids, and batches whose answer never came."""

    acked: set[str] = field(default_factory=set)
    in_flight: list[Batch] = field(default_factory=list)
    last_acked_batch: Batch = field(default_factory=list)


@dataclass
class Round:
    """Counts of one round (the check runs after the restart that begins the round)."""

    round: int
    acked_checked: int
    stored_total: int
    missing_acked: int
    stored_twice: int
    retried_events: int
    retried_already_stored: int
    reacked_duplicates: int
    load_seconds: float
    acked_this_round: int
    in_flight_at_kill: int
    restart_seconds: float


def check_store(database: Path, acked: set[str]) -> tuple[int, int, int]:
    """(stored rows, acknowledged ids missing from the store, ids stored more than once)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as conn:
        stored = {row[0] for row in conn.execute("SELECT message_id FROM events")}
        total = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        twice = conn.execute(
            "SELECT COUNT(*) FROM (SELECT message_id FROM events GROUP BY message_id "
            "HAVING COUNT(*) > 1)"
        ).fetchone()[0]
    conn.close()
    return int(total), len(acked - stored), int(twice)


def _accepted_all(status: int, body: bytes, size: int) -> tuple[bool, int]:
    """Whether the whole batch is acknowledged (stored now or already), and its duplicates."""
    if status != 200:
        return False, 0
    answer = orjson.loads(body)
    ok = answer["accepted"] + answer["duplicates"] == size and not answer["rejected"]
    return ok, int(answer["duplicates"])


async def resend(port: int, key: str, batches: list[Batch], ledger: Ledger) -> tuple[int, int]:
    """Send ``batches`` again (a client's retries); returns (events sent, duplicates reported)."""
    sent = duplicates = 0
    conn = await connect(port)
    try:
        for batch in batches:
            status, body = await conn.request(request_bytes(port, key, batch))
            ok, dups = _accepted_all(status, body, len(batch))
            if not ok:
                raise RuntimeError(f"retry refused: {status} {body[:200]!r}")
            ledger.acked.update(event["message_id"] for event in batch)
            sent += len(batch)
            duplicates += dups
    finally:
        conn.close()
    return sent, duplicates


async def load_then_kill(
    server: Server, key: str, ledger: Ledger, rng: np.random.Generator, seconds: float
) -> tuple[int, int]:
    """Batched and single-event clients until ``SIGKILL`` at ``seconds``; (acked, in flight)."""
    port, killed = server.port, asyncio.Event()
    before = len(ledger.acked)
    in_flight_before = len(ledger.in_flight)

    async def client(size: int, name: str) -> None:
        try:
            conn = await connect(port)
        except OSError:
            return
        try:
            for n in range(1_000_000):
                if killed.is_set():
                    return
                batch = make_events(size, rng, prefix=f"{name}-{n}")
                try:
                    status, body = await conn.request(request_bytes(port, key, batch))
                except HttpError:
                    ledger.in_flight.append(batch)
                    return
                ok, _ = _accepted_all(status, body, size)
                if not ok:
                    ledger.in_flight.append(batch)
                    continue
                ledger.acked.update(event["message_id"] for event in batch)
                ledger.last_acked_batch = batch
        finally:
            conn.close()

    async def killer() -> None:
        await asyncio.sleep(seconds)
        os.kill(server.pid, signal.SIGKILL)
        killed.set()

    clients = [client(100, f"b{i}") for i in range(4)] + [client(1, f"s{i}") for i in range(16)]
    await asyncio.wait_for(asyncio.gather(killer(), *clients), timeout=seconds + 60)
    return len(ledger.acked) - before, len(ledger.in_flight) - in_flight_before


def one_round(
    number: int, server: Server, key: str, ledger: Ledger, rng: np.random.Generator, kill: bool
) -> Round:
    started = time.perf_counter()
    server.start()
    restart = round(time.perf_counter() - started, 2)
    checked = len(ledger.acked)
    total, missing, twice = check_store(server.database, ledger.acked)
    retry = ledger.in_flight
    ledger.in_flight = []
    retried, already = run_async(resend(server.port, key, retry, ledger)) if retry else (0, 0)
    repeat = [ledger.last_acked_batch] if ledger.last_acked_batch else []
    _, reacked = run_async(resend(server.port, key, repeat, ledger)) if repeat else (0, 0)
    seconds, acked, in_flight = 0.0, 0, 0
    if kill:
        seconds = round(float(rng.uniform(0.3, 1.5)), 2)
        acked, in_flight = run_async(load_then_kill(server, key, ledger, rng, seconds))
        server.kill()
    else:
        server.stop()
        checked = len(ledger.acked)
        total, missing, twice = check_store(server.database, ledger.acked)
    return Round(
        round=number,
        acked_checked=checked,
        stored_total=total,
        missing_acked=missing,
        stored_twice=twice,
        retried_events=retried,
        retried_already_stored=already,
        reacked_duplicates=reacked,
        load_seconds=seconds,
        acked_this_round=acked,
        in_flight_at_kill=in_flight,
        restart_seconds=restart,
    )


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Crash benchmark (`kill -9` under load, SQLite)",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, Python "
        f"{m['python']}. Server: `shopwise serve` (one uvicorn process), "
        f"SHOPWISE_SQLITE_SYNCHRONOUS={report['synchronous']}; load: 4 clients sending batches "
        "of 100 and 16 sending single events on keep-alive connections.",
        "",
        f"Command: `{report['command']}` ({report['started']}).",
        "",
        f"Result: **{report['verdict']}**: {report['kills']} kills, {report['acked_total']:,} "
        f"acknowledged events, {report['missing_acked']} missing, {report['stored_twice']} stored "
        "twice.",
        "",
        "Each row is checked after the restart that begins it (the last row: after the final "
        "retries and a clean stop): `acked so far` ids must all be among the `stored rows`. "
        "`retried` are the events in flight at the previous kill, sent again; `already stored` of "
        "them had been committed before the kill without their answer reaching the client.",
        "",
        "| round | acked so far | stored rows | missing | stored twice | retried | already stored "
        "| re-sent acked: dups | load s | acked in round | in-flight requests at kill |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["rounds"]:
        lines.append(
            f"| {r['round']} | {r['acked_checked']:,} | {r['stored_total']:,} "
            f"| {r['missing_acked']} | {r['stored_twice']} | {r['retried_events']} "
            f"| {r['retried_already_stored']} "
            f"| {r['reacked_duplicates']} | {r['load_seconds']} | {r['acked_this_round']:,} "
            f"| {r['in_flight_at_kill']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds (smoke)")
    parser.add_argument("--rounds", type=int, default=20, help="number of kill -9 rounds")
    parser.add_argument("--sync", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="results JSON path")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    if args.quick:
        args.rounds = 3
    if args.out is None:  # a smoke run never overwrites the committed results
        args.out = RESULTS / ("tmp" if args.quick else "") / "crash.json"
    rng = np.random.default_rng(args.seed)
    rounds: list[Round] = []
    ledger = Ledger()
    report: dict[str, Any] = {
        "command": shlex.join(["python", "benchmarks/crash.py", *sys.argv[1:]]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "synchronous": args.sync,
    }
    with temp_dir("shopwise-crash-") as data_dir:
        server = Server(data_dir, synchronous=args.sync)
        key = server.create_key()
        try:
            for number in range(1, args.rounds + 2):
                result = one_round(number, server, key, ledger, rng, kill=number <= args.rounds)
                rounds.append(result)
                print(asdict(result), flush=True)
        finally:
            server.stop()
    missing = max(r.missing_acked for r in rounds)
    twice = max(r.stored_twice for r in rounds)
    report.update(
        kills=args.rounds,
        acked_total=len(ledger.acked),
        missing_acked=missing,
        stored_twice=twice,
        verdict="PASS" if missing == 0 and twice == 0 else "FAIL",
        rounds=[asdict(r) for r in rounds],
    )
    print(write_report(args.out, report, markdown))
    return 0 if report["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
