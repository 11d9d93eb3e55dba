"""The incremental candidate refresh on the full demo shop, against a full refresh (issue 25,
"Must show").

The demo shop is built as ``shopwise demo`` builds it (``experiments_e2e.shop_dir``: 2,000
products, 5,000 customers, 90 days, the production pipeline ``shopwise`` trained as the champion)
in a temporary data directory, and the worker's refresh (:func:`shopwise.worker.refresh_candidates`)
runs in this process on a started runtime. Each repetition:

1. waits until every profile row is older than the refresh's look-back (``OVERLAP_MS``), so that
   the incremental pass that follows recomputes the changed profiles and nothing else;
2. runs a full refresh (timed);
3. sends one product view for each of a random 1% of the profiles through the ingestion service
   (:meth:`Collector.ingest`) and waits until the profile consumer has folded them in;
4. runs the worker's refresh, which is now incremental (timed), and checks its counts.

Each incremental pass's lists are compared with the next full pass's (the profiles do not change
between them): they must be identical. Both passes include what the worker's job does around the
ranking: loading the champion, reading profiles, saving the version and reloading it for serving.
Results go to ``benchmarks/results/incremental_refresh.json`` and ``.md``. ``--reuse DIR`` keeps
the built shop in ``DIR`` and starts later runs from a copy of it.

    nice -n 10 python benchmarks/incremental_refresh.py
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from _common import RESULTS, machine, median, temp_dir, write_json
from experiments_e2e import shop_dir
from shopwise.collect import MAX_BATCH_EVENTS
from shopwise.logs import quiet
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.store import profiles
from shopwise.worker import refresh_candidates
from shopwise.worker._recommenders import HISTORY
from shopwise.worker._refresh import FULL_PASS_SECONDS, OVERLAP_MS, refresh_precomputed

JSON_OUT = RESULTS / "incremental_refresh.json"
MD_OUT = RESULTS / "incremental_refresh.md"
MODEL_KEYS = ("model", "version", "profiles", "items", "interactions", "fit_seconds")
"""What the results keep of the champion's training stats."""


def live_profiles(runtime: Runtime) -> list[str]:
    """The canonical profiles in the store, sorted (the population 1% is drawn from)."""
    query = sa.select(profiles.c.profile_id).where(profiles.c.merged_into.is_(None))
    with runtime.engine.connect() as conn:
        return sorted(conn.execute(query).scalars())


def wait_past_overlap(runtime: Runtime) -> float:
    """Sleep until the newest profile row is older than the refresh's look-back; seconds slept."""
    with runtime.engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(profiles.c.updated_at))).scalar_one()
    wait = (int(newest) + OVERLAP_MS + 1000) / 1000 - time.time()
    if wait > 0:
        time.sleep(wait)
    return max(wait, 0.0)


def change_profiles(
    runtime: Runtime, chosen: list[str], products: list[str], rng: np.random.Generator
) -> float:
    """One product view for each chosen profile, through the collector; seconds until every
    view is folded into its profile."""
    started = time.perf_counter()
    rows = []
    for profile in chosen:
        identity = runtime.profiles.identity_of(profile)
        assert identity is not None, profile
        user_id, anonymous_id = identity
        ids = {"user_id": user_id} if user_id is not None else {"anonymous_id": anonymous_id}
        rows.append(
            {
                "message_id": uuid.uuid4().hex,
                "type": "product_viewed",
                **ids,
                "timestamp": datetime.now(UTC).isoformat(),
                "properties": {"product_id": str(rng.choice(products))},
            }
        )
    last = 0
    for start in range(0, len(rows), MAX_BATCH_EVENTS):
        result = runtime.collector.ingest(rows[start : start + MAX_BATCH_EVENTS])
        assert not result.rejected and not result.duplicates, result
        last = result.last_event_id
    assert runtime.bus.wait_until_consumed(last, timeout=120)
    return time.perf_counter() - started


def timed(refresh: Any) -> tuple[dict[str, Any], float, float]:
    """Run a refresh; its result, wall seconds and CPU seconds of this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    result: dict[str, Any] = refresh()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def current(runtime: Runtime) -> dict[str, tuple[list[str], list[float]]]:
    """Each profile's stored list (products, scores) of the record serving holds."""
    record = runtime.precomputed.get()
    assert record is not None
    stored = runtime.candidate_lists.read_all(record.model_version)
    return {p: (entry.items, entry.scores) for p, entry in stored.items()}


def full_refresh(runtime: Runtime) -> tuple[dict[str, Any], float, float]:
    """A full pass (the periodic one: the interval set to zero)."""
    return timed(lambda: refresh_precomputed(runtime, quiet, HISTORY, full_pass_seconds=0))


def run(runtime: Runtime, repeats: int, share: float, seed: int) -> list[dict[str, Any]]:
    """The repetitions (see module docstring), each a full and an incremental pass."""
    rng = np.random.default_rng(seed)
    products = sorted(runtime.catalog.snapshot())
    rows: list[dict[str, Any]] = []
    previous: dict[str, tuple[list[str], list[float]]] | None = None
    for repetition in range(repeats + 1):
        waited = wait_past_overlap(runtime)
        full, full_wall, full_cpu = full_refresh(runtime)
        if previous is not None:  # the last incremental lists against this full pass's
            rows[-1]["identical_to_full"] = previous == current(runtime)
        if repetition == repeats:
            break
        population = live_profiles(runtime)
        count = max(1, round(share * len(population)))
        chosen = sorted(rng.choice(population, size=count, replace=False).tolist())
        ingest_seconds = change_profiles(runtime, chosen, products, rng)
        incremental, inc_wall, inc_cpu = timed(lambda: refresh_candidates(runtime, quiet))
        assert incremental["pass"] == "incremental", incremental
        previous = current(runtime)
        rows.append(
            {
                "repetition": repetition + 1,
                "waited_seconds": round(waited, 1),
                "profiles_in_store": len(population),
                "profiles_changed": count,
                "full": {**full, "wall_seconds": round(full_wall, 3), "cpu_seconds": full_cpu},
                "ingest_seconds": round(ingest_seconds, 3),
                "incremental": {
                    **incremental,
                    "wall_seconds": round(inc_wall, 3),
                    "cpu_seconds": inc_cpu,
                },
            }
        )
        print(
            f"repetition {repetition + 1}: full {full_wall:.2f} s ({full['recomputed']} lists), "
            f"incremental {inc_wall:.2f} s ({incremental['recomputed']} recomputed, "
            f"{incremental['carried']} carried, {incremental['dropped']} dropped)",
            flush=True,
        )
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    full = [r["full"]["wall_seconds"] for r in rows]
    incremental = [r["incremental"]["wall_seconds"] for r in rows]
    return {
        "full_median_seconds": median(full),
        "incremental_median_seconds": median(incremental),
        "ratio_full_to_incremental": round(float(np.median(full) / np.median(incremental)), 1),
        "full_cpu_median_seconds": median([r["full"]["cpu_seconds"] for r in rows]),
        "incremental_cpu_median_seconds": median([r["incremental"]["cpu_seconds"] for r in rows]),
        "all_identical_to_full": all(r.get("identical_to_full") for r in rows),
    }


def markdown(payload: dict[str, Any]) -> str:
    m, s, shop = payload["machine"], payload["summary"], payload["shop"]
    lines = [
        "# Incremental candidate refresh on the demo shop",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, Python "
        f"{m['python']}; load average {m['load_avg_at_start'][0]} at start, a Python loop "
        f"iteration {m['python_loop_ns']} ns. Command: `{payload['command']}` "
        f"({payload['finished_at']}, {payload['seconds']} s).",
        "",
        f"Shop: {shop['products']:,} products, {shop['customers']:,} customers, "
        f"{shop['history_events']:,} events over {shop['history_days']} days; champion "
        f"`{shop['model']['model']}`. Each repetition changes a random {payload['share']:.0%} of "
        "the profiles in the store (one product view each, through the ingestion service) after "
        "a full refresh, then runs the worker's refresh, which recomputes those profiles only "
        "(those that allow personalization and have products) and carries the other lists over. "
        "A changed profile that refuses personalization gets no list, so `recomputed` is below "
        "`changed`; profiles with a first product view get their first list, so `lists` grows.",
        "",
        f"Result: full refresh **{s['full_median_seconds']} s**, incremental refresh "
        f"**{s['incremental_median_seconds']} s** (medians of {len(payload['repetitions'])}); "
        f"**{s['ratio_full_to_incremental']}x** faster. CPU of this process: "
        f"{s['full_cpu_median_seconds']} s against {s['incremental_cpu_median_seconds']} s. "
        "Every incremental pass's lists were "
        + ("identical" if s["all_identical_to_full"] else "**not** identical")
        + " to those of the full pass that followed.",
        "",
        "| repetition | profiles in store | changed | full s | lists | incremental s | "
        "recomputed | carried | dropped | ingest s | same as full |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in payload["repetitions"]:
        full, inc = r["full"], r["incremental"]
        lines.append(
            f"| {r['repetition']} | {r['profiles_in_store']:,} | {r['profiles_changed']} | "
            f"{full['wall_seconds']:.2f} | {full['profiles']:,} | {inc['wall_seconds']:.2f} | "
            f"{inc['recomputed']} | {inc['carried']:,} | {inc['dropped']} | "
            f"{r['ingest_seconds']:.2f} | {'yes' if r.get('identical_to_full') else 'no'} |"
        )
    lines += [
        "",
        "Both times cover the whole job: loading the champion, reading profiles, ranking, saving "
        "the version and reloading it as serving does. An incremental pass looks back "
        f"{OVERLAP_MS // 60000} minutes before the previous pass's read (a row may commit a little "
        "after the time it carries), so in production it also recomputes the profiles changed "
        "just before the previous refresh; the benchmark waits that long before each full pass "
        f"so that only the 1% is recomputed. A full pass runs at least every "
        f"{FULL_PASS_SECONDS // 3600} h, and whenever the champion changes.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--share", type=float, default=0.01, help="share of profiles changed")
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--reuse", type=Path, help="Keep the built shop here and reuse it.")
    args = parser.parse_args()
    started = time.perf_counter()
    info = machine()
    command = "nice -n 10 python benchmarks/incremental_refresh.py"
    for name in ("repeats", "share", "seed"):
        if getattr(args, name) != parser.get_default(name):
            command += f" --{name} {getattr(args, name)}"
    if args.reuse is not None:
        command += " --reuse DIR"
    with temp_dir("shopwise-refresh-") as data_dir:
        built = shop_dir(data_dir, argparse.Namespace(quick=False, reuse=args.reuse))
        runtime = Runtime.build(Settings(data_dir=data_dir, log_level="WARNING"), migrate=True)
        runtime.start()
        try:
            rows = run(runtime, args.repeats, args.share, args.seed)
        finally:
            runtime.stop()
    payload = {
        "machine": info,
        "command": command,
        "config": {**vars(args), "reuse": None if args.reuse is None else str(args.reuse)},
        "share": args.share,
        "shop": {**built, "model": {k: built["model"][k] for k in MODEL_KEYS}},
        "summary": summary(rows),
        "repetitions": rows,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(JSON_OUT, payload)
    MD_OUT.write_text(markdown(payload))
    print(markdown(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
