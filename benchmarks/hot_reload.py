"""Hot reload of the recommender champion under steady load (issue 25, "Must show").

Builds the demo shop (full by default) and trains its production recommender as
``benchmarks/serve.py`` does, then runs ``shopwise serve`` as a separate process on 127.0.0.1
and drives closed-loop load on ``GET /v1/recommendations``: a few keep-alive clients, each
sending its next request at a fixed rate (a request that came back late is followed at once),
for shoppers drawn from the shop's customers and visitors. While the load runs, a promoter process
(what a training job is to serving: another process writing to the same models directory)
publishes a new champion three times, as ``train_recommenders`` does: the champion artifact saved
again as a new version with ``ModelRegistry.save(..., promote=True)``, then the shoppers'
precomputed lists saved for that version and promoted. The server's background checks pick both
up and swap them in; the benchmark notes the first answer that carries the new ``model_version``
(the swap).

Each repetition starts a fresh server, lets it warm up, measures a steady window, then does the
three reloads. A reload's window runs from the promoter starting its save until
:data:`AFTER_SWAP` seconds after the swap, so it holds the save, the server's unpickling, the
first answers from the new model (every remembered answer and session list belongs to the old
one) and the refill of those caches. Reported: failed requests (non-2xx answers, broken
connections, time-outs) over the whole run, degraded answers, and p50/p99 of each window, as
medians over the repetitions, with each reload's p99 over the steady p99.

Results go to ``benchmarks/results/hot_reload.json`` and ``.md`` (``--quick``: the quick shop,
results under ``benchmarks/results/tmp/``). ``--reuse DIR`` keeps the built shop in ``DIR`` and
starts later runs from a copy of it.

    nice -n 5 .venv/bin/python benchmarks/hot_reload.py
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HOST,
    RESULTS,
    HttpError,
    Server,
    connect,
    machine,
    median,
    percentile_ms,
    run_async,
    temp_dir,
    write_json,
)
from serve import build_shop

RELOADS = 3
WARM_UP = 10.0
"""Seconds of load before the steady window (the server's caches fill)."""
STEADY = 20.0
"""Seconds of the steady window, before any reload."""
AFTER_SWAP = 5.0
"""A reload's window ends this many seconds after the first answer from the new model."""
BEFORE_SWAP = 1.0
"""The tighter window around a swap starts this many seconds before the first answer from the
new model (requests stalled by the load were sent just before it)."""
GAP = 5.0
"""Seconds between the end of a reload's window and the next promotion."""
SWAP_TIMEOUT = 60.0
"""A promoted champion not served within this many seconds fails the run."""
SLOWEST = 5
"""The slowest requests of a reload's window listed with their time from the swap."""
REQUEST_TIMEOUT = 10.0
"""A request not answered within this many seconds counts as failed."""


@dataclass
class Samples:
    """Every request of a repetition: when it was sent, how long it took, what came back."""

    sent: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    ok: list[bool] = field(default_factory=list)
    degraded: list[bool] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    versions: dict[str, float] = field(default_factory=dict)
    """The first time (monotonic, answered) each model version was served."""

    def add(self, sent: float, answered: float, status: int, body: bytes) -> None:
        self.sent.append(sent)
        self.seconds.append(answered - sent)
        ok = 200 <= status < 300
        self.ok.append(ok)
        if not ok:
            self.failures.append(f"HTTP {status}: {body[:200]!r}")
            self.degraded.append(False)
            return
        answer = orjson.loads(body)
        self.degraded.append(bool(answer["degraded"]) or answer["model_version"] is None)
        version = answer["model_version"]
        if version is not None and version not in self.versions:
            self.versions[version] = answered

    def fail(self, sent: float, answered: float, reason: str) -> None:
        self.sent.append(sent)
        self.seconds.append(answered - sent)
        self.ok.append(False)
        self.degraded.append(False)
        self.failures.append(reason)

    def window(self, start: float, end: float, swap: float | None = None) -> dict[str, Any]:
        """Requests sent in ``[start, end)``: count, failures, degraded answers, p50/p99/max;
        with ``swap``, the slowest few, each sent so many seconds from the swap."""
        sent = np.asarray(self.sent)
        chosen = np.flatnonzero((sent >= start) & (sent < end))
        seconds = [self.seconds[i] for i in chosen]
        slowest = {}
        if swap is not None:
            worst = sorted(chosen, key=lambda i: -self.seconds[i])[:SLOWEST]
            slowest = {
                "slowest": [
                    {
                        "sent_from_swap_s": round(self.sent[i] - swap, 3),
                        "ms": round(self.seconds[i] * 1000, 2),
                    }
                    for i in worst
                ]
            }
        return slowest | {
            "seconds": round(end - start, 2),
            "requests": len(chosen),
            "failed": sum(not self.ok[i] for i in chosen),
            "degraded": sum(self.degraded[i] for i in chosen),
            "p50_ms": percentile_ms(seconds, 50),
            "p99_ms": percentile_ms(seconds, 99),
            "max_ms": percentile_ms(seconds, 100),
        }


def request_bytes(port: int, key: str, path: str) -> bytes:
    """A complete ``GET`` request for ``path`` with the key."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {key}\r\n\r\n"
    ).encode()


async def client(
    port: int,
    requests: list[bytes],
    interval: float,
    offset: float,
    stop: asyncio.Event,
    samples: Samples,
) -> None:
    """One closed-loop client: a request every ``interval`` seconds (at once when late)."""
    conn = await connect(port)
    due = time.monotonic() + offset
    index = 0
    try:
        while not stop.is_set():
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            raw = requests[index % len(requests)]
            index += 1
            sent = time.monotonic()
            try:
                status, body = await asyncio.wait_for(conn.request(raw), REQUEST_TIMEOUT)
            except (HttpError, TimeoutError, OSError) as exc:
                samples.fail(sent, time.monotonic(), f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = await connect(port)
            else:
                samples.add(sent, time.monotonic(), status, body)
            due = max(due + interval, time.monotonic() - interval)
    finally:
        conn.close()


class Promoter:
    """A separate process that holds the champion artifact and its precomputed lists and
    publishes them again as a new version on each :meth:`promote` (see :func:`promoter`)."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "promoter",
            str(self._data_dir),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        await self._line()  # "ready": the artifact is loaded

    async def promote(self) -> dict[str, Any]:
        """Save and promote; the new version, when the save began and when it was promoted."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(b"save\n")
        await self._process.stdin.drain()
        saved: dict[str, Any] = orjson.loads(await self._line())
        return saved

    async def stop(self) -> None:
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()
            await self._process.wait()

    async def _line(self) -> bytes:
        assert self._process is not None and self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            raise RuntimeError("the promoter process exited")
        return line


def promoter(data_dir: Path) -> None:
    """The promoter process: load the champion and its precomputed lists once, then on each
    ``save`` line publish them again as a training job does (``train_recommenders``): the model
    saved as a new version and promoted, then the shoppers' lists saved for that version and
    promoted (serving picks each up on its own check, so a reload swaps twice).

    Times are ``time.monotonic()``, the system-wide clock the benchmark process reads too.
    """
    from shopwise.registry import ModelRegistry

    models = ModelRegistry(data_dir / "models", "recommenders")
    lists_registry = ModelRegistry(data_dir / "models", "candidates")
    current, current_lists = models.champion(), lists_registry.champion()
    assert current is not None and current_lists is not None, "no champion to re-save"
    artifact, meta = models.load(current), models.meta(current)
    lists, lists_meta = lists_registry.load(current_lists), lists_registry.meta(current_lists)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "save":
            continue
        began = time.monotonic()
        version = models.save(artifact, {**meta, "resaved_from": current}, promote=True)
        promoted = time.monotonic()
        lists = dataclasses.replace(lists, model_version=version)
        lists_registry.save(lists, {**lists_meta, "model_version": version}, promote=True)
        published = time.monotonic()
        times = {"began": began, "promoted": promoted, "lists_promoted": published}
        print(orjson.dumps({"version": version, **times}).decode(), flush=True)


async def wait_for_version(samples: Samples, version: str) -> float:
    """When the first answer from ``version`` came back."""
    deadline = time.monotonic() + SWAP_TIMEOUT
    while version not in samples.versions:
        if time.monotonic() > deadline:
            raise TimeoutError(f"version {version} not served within {SWAP_TIMEOUT} s")
        await asyncio.sleep(0.01)
    return samples.versions[version]


async def repetition(
    server: Server, key: str, paths: list[str], rate: float, clients: int
) -> dict[str, Any]:
    """One server: warm-up, the steady window, then :data:`RELOADS` promotions under load."""
    samples = Samples()
    stop = asyncio.Event()
    promoter_process = Promoter(server.data_dir)
    requests = [request_bytes(server.port, key, p) for p in paths]
    interval = clients / rate
    tasks = [
        asyncio.create_task(
            client(
                server.port, requests[i::clients], interval, i * interval / clients, stop, samples
            )
        )
        for i in range(clients)
    ]
    started = time.monotonic()
    try:
        await promoter_process.start()
        await asyncio.sleep(max(0.0, started + WARM_UP - time.monotonic()))
        steady_start = time.monotonic()
        await asyncio.sleep(STEADY)
        reloads = []
        for _ in range(RELOADS):
            saved = await promoter_process.promote()
            swap = await wait_for_version(samples, saved["version"])
            await asyncio.sleep(max(0.0, swap + AFTER_SWAP - time.monotonic()))
            reloads.append({**saved, "swap": swap})
            await asyncio.sleep(GAP)
        stop.set()
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        await promoter_process.stop()
    return {
        "steady": samples.window(steady_start, steady_start + STEADY),
        "reloads": [
            {
                "version": r["version"],
                "save_seconds": round(r["promoted"] - r["began"], 3),
                "lists_save_seconds": round(r["lists_promoted"] - r["promoted"], 3),
                "promote_to_swap_seconds": round(r["swap"] - r["promoted"], 3),
                "window": samples.window(r["began"], r["swap"] + AFTER_SWAP, r["swap"]),
                "swap_window": samples.window(r["swap"] - BEFORE_SWAP, r["swap"] + AFTER_SWAP),
            }
            for r in reloads
        ],
        "whole_run": samples.window(started, time.monotonic() + 1)
        | {"failures": samples.failures[:20]},
    }


def run_repetitions(
    data_dir: Path, key_server: Server, paths: list[str], args: argparse.Namespace
) -> list[dict[str, Any]]:
    key = key_server.create_key("secret")
    results = []
    for _ in range(args.repetitions):
        server = Server(data_dir, log_level="INFO")
        server.start()
        try:
            results.append(run_async(repetition(server, key, paths, args.rate, args.clients)))
        finally:
            server.stop()
    return results


def artifact_facts(data_dir: Path) -> dict[str, Any]:
    """The champion artifact's size and how long one load of it takes in this process."""
    from shopwise.registry import ModelRegistry

    registry = ModelRegistry(data_dir / "models", "recommenders")
    version = registry.champion()
    assert version is not None
    size = len(registry.artifact_bytes(version))
    times = []
    for _ in range(3):
        began = time.perf_counter()
        registry.load(version)
        times.append(time.perf_counter() - began)
    return {"bytes": size, "load_seconds": round(float(np.median(times)), 3)}


def summarise(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over repetitions: the steady window, each reload's window, and their ratios."""
    keys = ("p50_ms", "p99_ms", "max_ms")
    steady = {k: median([r["steady"][k] for r in reps]) for k in keys}
    reloads = []
    for i in range(RELOADS):
        row: dict[str, Any] = {
            "promote_to_swap_seconds": median(
                [r["reloads"][i]["promote_to_swap_seconds"] for r in reps]
            )
        }
        for name in ("window", "swap_window"):
            windows = [r["reloads"][i][name] for r in reps]
            stats = {k: median([w[k] for w in windows]) for k in keys}
            stats["p99_ratio"] = round(stats["p99_ms"] / steady["p99_ms"], 2)
            stats["p50_ratio"] = round(stats["p50_ms"] / steady["p50_ms"], 2)
            row[name] = stats
        reloads.append(row)
    failed = sum(r["whole_run"]["failed"] for r in reps)
    degraded = sum(r["whole_run"]["degraded"] for r in reps)
    requests = sum(r["whole_run"]["requests"] for r in reps)
    worst = max(r[name]["p99_ratio"] for r in reloads for name in ("window", "swap_window"))
    return {
        "steady": steady,
        "reloads": reloads,
        "requests": requests,
        "failed": failed,
        "degraded": degraded,
        "worst_p99_ratio": worst,
        "passed": failed == 0 and worst <= 2.0,
    }


def prepared_shop(data_dir: Path, args: argparse.Namespace) -> tuple[list[str], dict[str, Any]]:
    """Build the shop into ``data_dir``, or copy the one ``--reuse`` keeps."""
    model = "transition" if args.quick else "shopwise"
    if args.reuse is None:
        return build_shop(data_dir, args.quick, model)
    kept, built = args.reuse / "var", args.reuse / "shop.json"
    if not built.exists():
        kept.mkdir(parents=True)
        shoppers, shop = build_shop(kept, args.quick, model)
        write_json(built, {"shoppers": shoppers, "shop": shop})
    shutil.copytree(kept, data_dir, dirs_exist_ok=True)
    saved = json.loads(built.read_text())
    return saved["shoppers"], saved["shop"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s, all clients")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--reuse", type=Path, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(25)
    with temp_dir("shopwise-hot-reload-") as data_dir:
        shoppers, shop = prepared_shop(data_dir, args)
        picks = rng.choice(shoppers, size=2000)
        paths = [
            f"/v1/recommendations?placement=home&n=10&"
            f"{'user_id' if s.startswith('cust') else 'anonymous_id'}={s}"
            for s in picks
        ]
        artifact = artifact_facts(data_dir)
        reps = run_repetitions(data_dir, Server(data_dir), paths, args)
    result: dict[str, Any] = {
        "benchmark": "hot_reload",
        "command": "nice -n 5 python benchmarks/hot_reload.py"
        + (" --quick" if args.quick else "")
        + f" --repetitions {args.repetitions} --rate {args.rate:g} --clients {args.clients}"
        + (" --reuse DIR (a shop built by the same code)" if args.reuse else ""),
        "machine": machine(),
        "shop": shop,
        "artifact": artifact,
        "load": {"rate_rps": args.rate, "clients": args.clients, "shoppers": len(set(picks))},
        "windows_seconds": {"warm_up": WARM_UP, "steady": STEADY, "after_swap": AFTER_SWAP},
        "repetitions": reps,
        "summary": summarise(reps),
    }
    name = "tmp/hot_reload-quick" if args.quick else "hot_reload"
    write_json(RESULTS / f"{name}.json", result)
    markdown = render(result)
    (RESULTS / f"{name}.md").parent.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown)


def render(result: dict[str, Any]) -> str:
    """The results table and its reading, from a result as written to JSON."""
    shop, summary, load = result["shop"], result["summary"], result["load"]
    m, artifact = result["machine"], result["artifact"]
    steady = summary["steady"]
    lines = [
        f"# Hot reload under load ({shop['products']} products, {shop['customers']} customers, "
        f"{shop['events']} events; model {shop['model']['model']})",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, shared by server, load clients and "
        f"promoter (load average at start: {m['load_avg_at_start']}; a plain Python loop ran at "
        f"{m['python_loop_ns']} ns an iteration). Command: `{result['command']}`.",
        "",
        f"Load: {load['clients']} closed-loop keep-alive clients at {load['rate_rps']:g} "
        f"requests/s in all on `GET /v1/recommendations` for {load['shoppers']} shoppers. "
        f"Artifact: {artifact['bytes'] / 2**20:.1f} MiB pickled, {artifact['load_seconds']} s "
        "to load in one process. Each repetition starts a fresh server; the steady window "
        f"({STEADY:g} s after {WARM_UP:g} s of warm-up) precedes the reloads; a reload's window "
        f"runs from the promoter's save until {AFTER_SWAP:g} s after the first answer from the "
        f"new version. Medians of {len(result['repetitions'])} repetitions.",
        "",
        "| window | promote to swap s | p50 ms | p99 ms | max ms | p99 / steady p99 |",
        "|---|---|---|---|---|---|",
        f"| steady | | {steady['p50_ms']} | {steady['p99_ms']} | {steady['max_ms']} | 1.0 |",
    ]
    for i, row in enumerate(summary["reloads"], start=1):
        for name, label in (("window", "save to swap + "), ("swap_window", "swap - 1 s to + ")):
            stats = row[name]
            lines.append(
                f"| reload {i}: {label}{AFTER_SWAP:g} s | {row['promote_to_swap_seconds']} "
                f"| {stats['p50_ms']} | {stats['p99_ms']} | {stats['max_ms']} "
                f"| {stats['p99_ratio']} |"
            )
    lines += [
        "",
        f"Requests: {summary['requests']}; failed: {summary['failed']}; degraded answers: "
        f"{summary['degraded']}. Worst reload p99 against the steady p99: "
        f"{summary['worst_p99_ratio']}x ({'within' if summary['passed'] else 'NOT within'} the "
        "2x bound with zero failures). The promote-to-swap time is mostly the server's check "
        "interval (every few seconds) plus the load.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:2] == ["promoter"]:
        promoter(Path(sys.argv[2]))
    else:
        main()
