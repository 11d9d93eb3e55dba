"""Serving latency and throughput with wrk against ``shopwise serve`` and the demo shop.

Builds the demo shop (full by default), trains the production recommender and precomputes the
shoppers' lists, then runs ``shopwise serve`` (one uvicorn process) with one extra route,
``/floor``, that returns a fixed 20-item payload from the same app: the framework's floor, built
like ``GET /v1/recommendations`` (a plain Starlette route on the event loop answering with the
app's orjson response, matched at the same depth of the route table). wrk (one thread) offers
200, 500 and 1,000 requests/s to ``GET /v1/recommendations`` for random shoppers (fixed rate
through a per-connection think time), then saturates both endpoints, then offers both the same
fixed load (60% of our first saturation throughput) to compare CPU a request where neither gets
more event-loop batching than the other; a second server with the answer cache off saturates them
again (the cost when every request is ruled afresh). Medians of repeated rounds; the floor is
measured in the same run and the same server.

By default the server runs the profile consumer in-process (``shopwise serve``'s default), so
its CPU includes storing every answer's exposure event (exposures are not folded into profiles);
``--api-only`` runs it as when ``shopwise worker`` owns the consumers
(``SHOPWISE_API_CONSUMERS=false``; no worker is started, so the folding happens nowhere).

``--backend postgres-redis`` builds the shop in a fresh PostgreSQL database with the online state
in Redis and serves it as ``docs/deploy.md`` scales out: ``--workers N`` API processes (the floor
route in each), ``SHOPWISE_API_CONSUMERS=false`` and one ``shopwise worker``; the server's CPU adds
up every API process, and the worker's, PostgreSQL's and Redis's CPU a request are reported
beside it. ``--shop quick`` serves the small demo shop (the tests' preset) instead of the full one.

Run: ``.venv/bin/python benchmarks/serve.py [--quick] [--api-only] [--model shopwise|transition]
[--backend embedded|postgres-redis] [--workers N] [--shop full|quick] [--rounds R]``
(needs Debian's ``wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from shopwise.profiles import LOCAL_TTL, REMOTE_TTL

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BACKENDS,
    HOST,
    RESULTS,
    Backend,
    Server,
    add_backend_options,
    load_into,
    machine,
    median,
    open_backend,
    redis_cpu_seconds,
    spent_since,
    temp_dir,
    write_json,
)

RATES = (200, 500, 1000)
ROUNDS = 5
DURATION = 12
SETTLE = 1.5
"""Seconds between the end of a CPU-measured run and reading the server's CPU (see
:func:`cpu_run`); longer than the exposure log's flush interval."""
EQUAL_LOAD_SHARE = 0.6
"""The equal-load runs offer both endpoints this share of the throughput our endpoint reached
at saturation in the first round. Ours comes right after our saturation run: with the consumer
in the process, the profile ids that run cached stay within the profile cache's ttl throughout,
whereas after a longer pause every shopper's entry expires at once and the run's first seconds
re-read them all from the store (``docs/performance.md``), a stampede no steady traffic makes.
With a shorter ttl (``--api-only``, ``--backend postgres-redis``) entries expire during every
run alike."""

LUA = """
local paths = {%(paths)s}
local i = 0
wrk.headers["Authorization"] = "Bearer %(key)s"
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
%(delay)s
done = function(summary, latency, requests)
  local form = '{"requests": %%d, "seconds": %%f, "errors": %%d, "p50_us": %%d, "p99_us": %%d}'
  io.write(string.format(form .. "\\n",
    summary.requests, summary.duration / 1e6,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def build_shop(
    data_dir: Path, quick: bool, model: str, backend: Backend
) -> tuple[list[str], dict[str, Any]]:
    from shopwise.runtime import Runtime
    from shopwise.settings import Settings
    from shopwise.simulate import SimulationConfig, simulate
    from shopwise.worker import train_recommenders

    shop = simulate(SimulationConfig.quick() if quick else SimulationConfig())
    settings = Settings(data_dir=data_dir, log_level="WARNING", **backend.settings())
    runtime = Runtime.build(settings, migrate=True)
    runtime.start()
    started = time.perf_counter()
    last = load_into(runtime, shop)
    assert runtime.bus.wait_until_consumed(last, timeout=3600)
    loaded = time.perf_counter() - started
    result = train_recommenders(runtime, model, lambda _m: None)
    runtime.stop()
    shoppers = [c.customer_id for c in shop.customers]
    shoppers += [a for c in shop.customers for a in c.anonymous_ids]
    return shoppers, {
        "events": len(shop.events),
        "products": len(shop.products),
        "customers": len(shop.customers),
        "load_seconds": round(loaded, 1),
        "model": result,
    }


def serve_with_floor(workers: int) -> None:
    """``shopwise serve`` plus ``/floor`` (the fixed payload), run as the benchmark's server;
    with ``workers`` above one, as ``shopwise serve --workers N`` runs its processes (each
    builds its app with :func:`floor_worker_app`)."""
    import uvicorn

    from shopwise.api import create_app
    from shopwise.cli.serve import prepare_runtime
    from shopwise.settings import Settings

    settings = Settings()
    if workers > 1:
        uvicorn.run(
            "serve:floor_worker_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        return
    app = add_floor(create_app(settings, prepare_runtime(settings)))
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


def floor_worker_app() -> Any:
    """One ``serve --workers`` process's app with ``/floor`` added."""
    from shopwise.cli.serve import worker_app

    return add_floor(worker_app())


def add_floor(app: Any) -> Any:
    """``app`` with ``/floor`` built the way ``GET /v1/recommendations`` is: a plain Starlette
    route on the event loop answering with the app's orjson response, behind the same
    middleware, so the cost ratio compares serving work, not two ways of routing."""
    from starlette.requests import Request

    from shopwise.api._json import JsonResponse

    payload = {
        "items": [
            {"product_id": f"sku-{i:05d}", "score": 1.0 / (i + 1), "reasons": ["floor"]}
            for i in range(20)
        ]
    }

    async def floor(_request: Request) -> JsonResponse:
        return JsonResponse(payload)

    app.add_route("/floor", floor, methods=["GET"])
    # matched right after /v1/recommendations, so both pay the same routing (the doc pages)
    routes = app.router.routes
    routes.insert(_after_recommendations(routes), routes.pop())
    return app


def _after_recommendations(routes: list[Any]) -> int:
    """The index just after ``GET /v1/recommendations`` among the app's routes."""
    paths = [getattr(route, "path", None) for route in routes]
    return paths.index("/v1/recommendations") + 1


def _round_ratios(runs: dict[str, list[dict[str, Any]]], ours: str, floor: str) -> list[float]:
    """Our CPU per request over the floor's, round by round: the machine's speed drifts between
    rounds (other tenants), so each ratio compares two measurements taken a few seconds apart."""
    return [
        round(a["server_cpu_us_per_request"] / b["server_cpu_us_per_request"], 3)
        for a, b in zip(runs[ours], runs[floor], strict=True)
    ]


def wrk(
    port: int, paths: list[str], key: str, rate: int | None, connections: int
) -> dict[str, Any]:
    delay = ""
    if rate is not None:
        think_ms = max(1, int(connections * 1000 / rate))
        delay = f"delay = function() return {think_ms} end"
    quoted = ",".join(json.dumps(p) for p in paths)
    script = LUA % {"paths": quoted, "key": key, "delay": delay}
    with temp_dir("shopwise-wrk-") as tmp:
        lua = tmp / "bench.lua"
        lua.write_text(script)
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{DURATION}s",
                "-s",
                str(lua),
                f"http://{HOST}:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=DURATION + 60,
        ).stdout
    stats: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    stats["rps"] = round(stats["requests"] / stats["seconds"], 1)
    stats["p50_ms"] = round(stats.pop("p50_us") / 1000, 2)
    stats["p99_ms"] = round(stats.pop("p99_us") / 1000, 2)
    return stats


def cpu_run(
    server: Server, key: str, paths: list[str], rate: int | None, connections: int
) -> dict[str, Any]:
    """wrk at ``rate`` (``None``: full speed), with the server's CPU seconds per request.

    The CPU is read :data:`SETTLE` seconds after wrk stops, so work that a request leaves
    behind (its exposure, buffered and then written by another thread) is charged
    to the run that caused it, not to the next one; every run gets the same wait.
    """
    scaled = server.backend.database_url is not None
    cpu, worker_cpu = server.cpu_seconds(), server.worker_cpu_seconds()
    store_cpu, redis_cpu = server.backend.store_cpu(), redis_cpu_seconds()
    stats = wrk(server.port, paths, key, rate, connections)
    time.sleep(SETTLE)
    requests = max(stats["requests"], 1)
    stats["server_cpu_us_per_request"] = round((server.cpu_seconds() - cpu) * 1e6 / requests, 1)
    if scaled:
        spent = {
            "worker": server.worker_cpu_seconds() - worker_cpu,
            "postgres": spent_since(store_cpu, server.backend.store_cpu()),
            "redis": redis_cpu_seconds() - redis_cpu,
        }
        for name, seconds in spent.items():
            stats[f"{name}_cpu_us_per_request"] = round(seconds * 1e6 / requests, 1)
    print(f"  {paths[0].split('?')[0]} at {rate or 'saturation'}: {stats}", flush=True)
    return stats


def saturate(server: Server, key: str, paths: list[str]) -> dict[str, Any]:
    """wrk at full speed (32 connections), with the server's CPU per request."""
    return cpu_run(server, key, paths, None, 32)


def connections_for(rate: int) -> int:
    """Connections for a fixed offered rate: a 50 ms think time each, so latency is small
    against it and the achieved rate stays near the offered one."""
    return max(10, rate // 20)


def measure(server: Server, key: str, rec_paths: list[str], rounds: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {}
    equal_rate = 0
    for _ in range(rounds):
        for rate in RATES:
            connections = connections_for(rate)
            for name, paths in (("recommendations", rec_paths), ("floor", ["/floor"])):
                runs.setdefault(f"{name}@{rate}", []).append(
                    cpu_run(server, key, paths, rate, connections)
                )
        # the floor first: our equal-load run then follows our saturation run, within the
        # profile cache's ttl of it (see EQUAL_LOAD_SHARE)
        for name, paths in (("floor", ["/floor"]), ("recommendations", rec_paths)):
            runs.setdefault(f"{name}@saturation", []).append(saturate(server, key, paths))
        if not equal_rate:  # fixed by the first round, the same for every round
            saturated = runs["recommendations@saturation"][0]["rps"]
            equal_rate = max(100, int(saturated * EQUAL_LOAD_SHARE) // 100 * 100)
        for name, paths in (("recommendations", rec_paths), ("floor", ["/floor"])):
            runs.setdefault(f"{name}@equal_load", []).append(
                cpu_run(server, key, paths, equal_rate, connections_for(equal_rate))
                | {"offered_rps": equal_rate}
            )
    return runs


def floor_server(
    data_dir: Path, backend: Backend, workers: int, api_only: bool, **env: str
) -> Server:
    """The benchmark's server (``shopwise serve`` plus ``/floor``) over ``data_dir``: on
    PostgreSQL + Redis without in-process consumers and with one ``shopwise worker``."""
    scaled = backend.database_url is not None
    return Server(
        data_dir,
        log_level="WARNING",
        consumers=not (api_only or scaled),
        command=[sys.executable, __file__, "serve-with-floor"],
        extra_env=env,
        backend=backend,
        workers=workers,
        worker=scaled,
    )


def measure_uncached(
    data_dir: Path, rec_paths: list[str], rounds: int, args: argparse.Namespace, backend: Backend
) -> dict[str, Any]:
    """Saturation with the answer cache off (every request fuses and rules its candidates),
    beside the floor of the same server."""
    server = floor_server(
        data_dir, backend, args.workers, args.api_only, SHOPWISE_ANSWER_CACHE_SIZE="0"
    )
    server.start()
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        key = server.create_key("secret")
        for _ in range(rounds):
            for name, paths in (("recommendations", rec_paths), ("floor", ["/floor"])):
                runs.setdefault(f"{name}@uncached", []).append(saturate(server, key, paths))
    finally:
        server.stop()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--model", default="shopwise", choices=["shopwise", "transition"])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument(
        "--api-only", action="store_true", help="no in-process bus consumers (worker setup)"
    )
    parser.add_argument("--backend", default="embedded", choices=BACKENDS)
    parser.add_argument("--workers", type=int, default=1, help="API processes")
    parser.add_argument("--shop", default="full", choices=["full", "quick"])
    add_backend_options(parser)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    with (
        temp_dir("shopwise-serve-bench-") as data_dir,
        open_backend(args.backend, args.postgres_url, args.redis_url) as backend,
    ):
        result = run(args, data_dir, backend)
    name = "serve-api-only" if args.api_only else "serve"
    if args.backend != "embedded":
        name = f"serve-{args.backend}"
    if args.quick:
        name = f"tmp/{name}-quick"  # quick runs are not results
    write_json(RESULTS / f"{name}.json", result)
    markdown = render(result)
    (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown)


def recommendation_paths(shoppers: list[str], rng: np.random.Generator) -> list[str]:
    """``GET /v1/recommendations`` paths for 2,000 shoppers drawn from ``shoppers``."""
    return [
        f"/v1/recommendations?placement=home&n=10&"
        f"{'user_id' if s.startswith('cust') else 'anonymous_id'}={s}"
        for s in rng.choice(shoppers, size=2000)
    ]


def run(args: argparse.Namespace, data_dir: Path, backend: Backend) -> dict[str, Any]:
    """Build the shop, measure the server and the uncached server; the result as written."""
    rng = np.random.default_rng(5)
    started = machine()
    shoppers, shop = build_shop(data_dir, args.quick or args.shop == "quick", args.model, backend)
    rounds = 1 if args.quick else args.rounds
    server = floor_server(data_dir, backend, args.workers, args.api_only)
    server.start()
    try:
        key = server.create_key("secret")
        paths = recommendation_paths(shoppers, rng)
        runs = measure(server, key, paths, rounds)
    finally:
        server.stop()
    runs |= measure_uncached(data_dir, paths, rounds, args, backend)
    summary = {
        name: {k: median([r[k] for r in values]) for k in values[0] if k != "seconds"}
        for name, values in runs.items()
    }
    ratios = _round_ratios(runs, "recommendations@saturation", "floor@saturation")
    uncached_ratios = _round_ratios(runs, "recommendations@uncached", "floor@uncached")
    equal_ratios = _round_ratios(runs, "recommendations@equal_load", "floor@equal_load")
    consumer = "worker (not run)" if args.api_only else "in the server process"
    if backend.database_url is not None:
        consumer = "one shopwise worker beside the API"
    return {
        "benchmark": "serving",
        "command": "python benchmarks/serve.py"
        + (" --quick" if args.quick else "")
        + (" --api-only" if args.api_only else "")
        + f" --model {args.model}"
        + (f" --backend {args.backend}" if args.backend != "embedded" else "")
        + (f" --workers {args.workers}" if args.workers != 1 else "")
        + (f" --shop {args.shop}" if args.shop != "full" else "")
        + (f" --rounds {args.rounds}" if args.rounds != ROUNDS else ""),
        "backend": args.backend,
        "api_processes": args.workers,
        "profile_consumer": consumer,
        "machine": started,
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "shop": shop,
        "runs": runs,
        "median": summary,
        "cost_ratio_vs_floor": median(ratios),
        "cost_ratio_vs_floor_per_round": ratios,
        "equal_load_rps": int(summary["recommendations@equal_load"]["offered_rps"]),
        "cost_ratio_vs_floor_equal_load": median(equal_ratios),
        "cost_ratio_vs_floor_equal_load_per_round": equal_ratios,
        "cost_ratio_vs_floor_answer_cache_off": median(uncached_ratios),
        "cost_ratio_vs_floor_answer_cache_off_per_round": uncached_ratios,
    }


def render(result: dict[str, Any]) -> str:
    """The results table and its reading, from a result as written to JSON."""
    shop, runs, summary = result["shop"], result["runs"], result["median"]
    sat, floor = summary["recommendations@saturation"], summary["floor@saturation"]
    uncached, uncached_floor = summary["recommendations@uncached"], summary["floor@uncached"]
    equal, equal_floor = summary["recommendations@equal_load"], summary["floor@equal_load"]
    equal_rate = result["equal_load_rps"]
    ratio, ratios = result["cost_ratio_vs_floor"], result["cost_ratio_vs_floor_per_round"]
    equal_ratio = result["cost_ratio_vs_floor_equal_load"]
    equal_ratios = result["cost_ratio_vs_floor_equal_load_per_round"]
    uncached_ratio = result["cost_ratio_vs_floor_answer_cache_off"]
    uncached_ratios = result["cost_ratio_vs_floor_answer_cache_off_per_round"]
    low = summary[f"recommendations@{RATES[0]}"]["server_cpu_us_per_request"]
    low_floor = summary[f"floor@{RATES[0]}"]["server_cpu_us_per_request"]
    lines = [
        f"# Serving benchmark ({shop['products']} products, {shop['customers']} customers, "
        f"{shop['events']} events; model {shop['model']['model']})",
        "",
        f"Machine: {result['machine']['cpu_model']}, {result['machine']['cores']} cores, shared "
        f"by server and wrk (load average at start: {result['machine']['load_avg_at_start']}; "
        f"a plain Python loop ran at {result['machine']['python_loop_ns']} ns an iteration, "
        "a gauge of the shared machine's speed that day). "
        f"Command: `{result['command']}`. Medians of {len(runs[f'floor@{RATES[0]}'])} rounds. "
        f"Profile consumer: {result['profile_consumer']}.",
        "",
        "The floor (`/floor`, a fixed 20-item payload) is built like `GET /v1/recommendations`: a "
        "plain Starlette route on the event loop with the app's orjson response, behind the same "
        "middleware, matched right after it (both pass the same routes first); it does no key "
        "check. The benchmark asks again and again for the same 2,000 shoppers, who do nothing "
        "in between, so most answers come from the answer cache (same inputs, same ruled list); "
        "the last rows restart the server with the cache off (`SHOPWISE_ANSWER_CACHE_SIZE=0`), "
        "as for a shopper with new events on every page.",
        "",
    ]
    extra: tuple[str, ...] = ()
    if result.get("backend", "embedded") != "embedded":
        extra = ("worker", "postgres", "redis")
        lines += [
            f"Backend: PostgreSQL (a fresh database) + Redis (bus, online state), "
            f"`shopwise serve --workers {result['api_processes']}` with "
            "`SHOPWISE_API_CONSUMERS=false` (each process with the floor route; server CPU adds "
            "up the parent and its uvicorn processes) and one `shopwise worker`; the last columns "
            "are the worker's, PostgreSQL's (the processes connected to the run's database) and "
            "Redis's (another benchmark's low-rate traffic included) CPU a request. Load "
            "average at the end: "
            f"{result['load_avg_at_end']}.",
            "",
        ]
    lines += [
        "| endpoint | offered rps | achieved rps | p50 ms | p99 ms | errors "
        "| server CPU us/request |" + "".join(f" {name} CPU us/request |" for name in extra),
        "|---|---|---|---|---|---|---|" + "---|" * len(extra),
    ]
    table = [
        (e, r, f"{e}@{r}") for e in ("recommendations", "floor") for r in (*RATES, "saturation")
    ]
    table += [
        (e, f"{equal_rate} (equal load)", f"{e}@equal_load") for e in ("recommendations", "floor")
    ]
    table += [
        ("recommendations (answer cache off)", "saturation", "recommendations@uncached"),
        ("floor (same server)", "saturation", "floor@uncached"),
    ]
    for endpoint, rate, key_name in table:
        row = summary[key_name]
        lines.append(
            f"| {endpoint} | {rate} | {row['rps']} | {row['p50_ms']} | {row['p99_ms']} "
            f"| {row['errors']} | {row['server_cpu_us_per_request']} |"
            + "".join(f" {row[f'{name}_cpu_us_per_request']} |" for name in extra)
        )
    lines += [
        "",
        f"Server CPU per request at saturation (medians): recommendations "
        f"{sat['server_cpu_us_per_request']} us, floor {floor['server_cpu_us_per_request']} us; "
        f"cost ratio {ratio} (median of the rounds' ratios {ratios}, each recommendations "
        f"against the floor measured right before it); with the answer cache off "
        f"{uncached['server_cpu_us_per_request']} us against "
        f"{uncached_floor['server_cpu_us_per_request']} us, ratio {uncached_ratio} "
        f"(rounds {uncached_ratios}).",
        "",
        f"At equal load ({equal_rate} req/s offered to both, {EQUAL_LOAD_SHARE:.0%} of "
        f"our first saturation round): recommendations {equal['server_cpu_us_per_request']} us, "
        f"floor {equal_floor['server_cpu_us_per_request']} us a request; cost ratio {equal_ratio} "
        f"(rounds {equal_ratios}); our run follows our saturation run (see the ttl below). "
        "At saturation the floor serves "
        f"{floor['rps'] / sat['rps']:.1f}x as many requests a second as our endpoint, and its CPU "
        "a request falls with its load (see the last column): the event loop's per-wake-up "
        "costs are shared by more requests. At equal load both pay them alike. At the fixed "
        f"rates each request wakes the event loop on its own: at {RATES[0]} req/s our endpoint "
        f"costs {low} us a request against the floor's {low_floor}. There a shopper's profile "
        "is also read from the store again when its cache entry is older than the profile "
        f"cache's ttl ({LOCAL_TTL:.0f} s with the consumer in the process, {REMOTE_TTL:.0f} s "
        "without), and the runs of our "
        f"endpoint start {2 * (DURATION + SETTLE):.0f} s apart, so many requests of a low-rate "
        "run are such re-reads, as for a shopper who comes back after the ttl. Every CPU figure "
        f"is read {SETTLE} s after its run ends, so the exposures a run leaves behind are "
        "charged to it.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve-with-floor"]:
        workers = sys.argv[3] if sys.argv[2:3] == ["--workers"] else "1"
        serve_with_floor(int(workers))
    else:
        main()
