"""Time of each minute's run of the journeys job over a shop's profiles (issue 28, the soak).

The worker runs the ``journeys`` job every minute. A run that loads every profile changed within
the triggers' horizon (60 days with the shipped triggers) costs as much as the shop has recent
shoppers, every minute; one that loads the profiles changed since the run before and those whose
wake-up has come costs as much as the minute's traffic.

This benchmark stores ``--profiles`` profiles into a fresh SQLite store (carts, views and orders
spread over the 60 days before the start, marketing consent for most, an email address for
``--email-share`` of them, the others anonymous visitors, and a churn score for the buyers) with
the shipped trigger set (email triggers only), then advances a simulated clock a
minute at a time for ``--minutes``: each minute ``--changes-per-minute`` shoppers view or cart a
product (their profiles written at the clock) and one :class:`~shopwise.journeys.TriggerRunner`,
the same from minute to minute as in the worker, runs and is timed. Every ``--score-every``
minutes, before the shoppers move, every buyer's churn score is written again in one transaction
with the clock as its ``scored_at``, as the customer-score job writes the whole population's;
the report gives the profiles read by the runs of that minute and the two after it (the settle
time). Every ``--full-every`` minutes a new runner (a worker's first run, which is what every run
did before the wake-ups) runs right after it at the same instant and is timed too: it should
find nothing left to decide. The report gives the median of each and their ratio, measured in
the same run.

``--label`` names the code measured (default: the commit); results of other labels already in the
JSON are kept, so the code before a change can be measured by running this script with
``PYTHONPATH`` pointing at that code's ``src`` and another label.

Messages are composed by the worker's own composer over serving (no model trained: serving's
fallbacks) and enqueued into the real outbox, never sent.

    python benchmarks/journeys_runs.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

import shopwise
from _common import RESULTS, commit, temp_dir, write_labelled_run
from shopwise.journeys import TriggerRun, default_triggers_text, trigger_store
from shopwise.profiles import ProfileState
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.store import customer_scores, identities, profiles, write_transaction
from shopwise.worker._journeys import trigger_runner

JSON_OUT = RESULTS / "journeys_runs.json"
MINUTE_MS = 60_000
DAY_MS = 1440 * MINUTE_MS
HORIZON_DAYS = 60
PRODUCTS = 200
INSERT_ROWS = 2000


class Clock:
    """The simulated present, read by the runner as the clock of the store's writes."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


def shopper(
    runtime: Runtime, n: int, rng: np.random.Generator, start: int, email_share: float
) -> tuple[ProfileState, int]:
    """Profile ``n``: its state and when it was last written."""
    last = start - int(rng.integers(0, HORIZON_DAYS * DAY_MS))
    items = [f"sku-{i}" for i in rng.integers(0, PRODUCTS, 4).tolist()]
    state = ProfileState(first_seen=last - DAY_MS, last_seen=last)
    state.viewed = [[last - k * MINUTE_MS, f"v{n}-{k}", items[k]] for k in range(3)]
    if rng.random() < 0.3:
        state.carted = [[last, f"c{n}", items[0]]]
    if rng.random() < 0.3:
        at = last - int(rng.integers(0, 20 * DAY_MS))
        state.purchased = [[at, f"o{n}", items[3]]]
        state.last_order_at = state.first_order_at = at
        state.counts["order_completed"] = 1
    if rng.random() < email_share:
        address = runtime.cipher.seal("email", f"s{n}@example.com")
        state.traits["email"] = [address, last, "i", "identify", True]
    state.consent["marketing"] = [bool(rng.random() < 0.85), last, "c"]
    return state, last


def populate(
    runtime: Runtime, count: int, rng: np.random.Generator, start: int, email_share: float
) -> dict[str, ProfileState]:
    """Store ``count`` profiles, their user ids and the buyers' churn scores."""
    states: dict[str, ProfileState] = {}
    rows, ids, scores = [], [], []
    for n in range(count):
        profile_id = f"p{n:07d}"
        state, last = shopper(runtime, n, rng, start, email_share)
        states[profile_id] = state
        rows.append({"profile_id": profile_id, "state": state.to_json(), "updated_at": last})
        ids.append({"id_key": f"u:s{n}", "profile_id": profile_id, "created_at": last})
        if state.purchased:
            churn = float(rng.random())
            scores.append(
                {
                    "profile_id": profile_id,
                    "name": "churn_90d",
                    "value": churn,
                    "model_version": "bench",
                    "as_of": start - DAY_MS,
                    "scored_at": start - DAY_MS,
                }
            )
    with write_transaction(runtime.engine) as conn:
        for table, values in ((profiles, rows), (identities, ids), (customer_scores, scores)):
            for first in range(0, len(values), INSERT_ROWS):
                conn.execute(table.insert(), values[first : first + INSERT_ROWS])
    return states


def rescore(runtime: Runtime, rng: np.random.Generator, now: int) -> None:
    """The customer-score job's write: every churn score again (moved a little), in one
    transaction, all with ``now`` as their ``scored_at``."""
    c = customer_scores.c
    with write_transaction(runtime.engine) as conn:
        old = conn.execute(sa.select(c.profile_id, c.value)).all()
        conn.execute(customer_scores.delete())
        rows = [
            {
                "profile_id": profile_id,
                "name": "churn_90d",
                "value": float(np.clip(value + rng.normal(0, 0.02), 0, 1)),
                "model_version": "bench",
                "as_of": now - DAY_MS,
                "scored_at": now,
            }
            for profile_id, value in old
        ]
        for first in range(0, len(rows), INSERT_ROWS):
            conn.execute(customer_scores.insert(), rows[first : first + INSERT_ROWS])


def touch(
    runtime: Runtime,
    states: dict[str, ProfileState],
    count: int,
    rng: np.random.Generator,
    now: int,
) -> None:
    """``count`` shoppers view (and half of them cart) a product at ``now``."""
    ids = sorted(states)
    updates = []
    for k in rng.choice(len(ids), count, replace=False).tolist():
        profile_id = ids[k]
        state = states[profile_id]
        product = f"sku-{int(rng.integers(0, PRODUCTS))}"
        state.viewed = [[now, f"v-{profile_id}-{now}", product], *state.viewed][:20]
        if rng.random() < 0.5:
            state.carted = [[now, f"c-{profile_id}-{now}", product], *state.carted][:20]
        state.last_seen = now
        updates.append({"pid": profile_id, "state": state.to_json(), "updated_at": now})
    statement = (
        profiles.update()
        .where(profiles.c.profile_id == sa.bindparam("pid"))
        .values(state=sa.bindparam("state"), updated_at=sa.bindparam("updated_at"))
    )
    with write_transaction(runtime.engine) as conn:
        conn.execute(statement, updates)


def timed(run: Callable[[], TriggerRun]) -> tuple[float, TriggerRun]:
    started = time.perf_counter()
    result = run()
    return round(time.perf_counter() - started, 3), result


def measure(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """Store the shop, then run the minutes (see the module docstring)."""
    rng = np.random.default_rng(args.seed)
    start = int(time.time() * 1000)
    clock = Clock(start)
    runtime = Runtime.build(Settings(data_dir=directory / "var"), migrate=True)
    runtime.start(consumers=False)  # as the worker: serving's exposures are written
    try:
        products = [
            {"id": f"sku-{i}", "title": f"Product {i}", "price": 10 + i} for i in range(PRODUCTS)
        ]
        runtime.catalog.upsert(products)
        trigger_store(runtime.engine).put(default_triggers_text(), None)
        states = populate(runtime, args.profiles, rng, start, args.email_share)
        runner = trigger_runner(runtime, clock=clock)
        first_s, first = timed(lambda: runner.run(clock.ms))
        steady: list[float] = []
        people: list[int] = []
        full: list[float] = []
        left: Counter[str] = Counter()
        decided: Counter[str] = Counter(first.outcomes)
        for minute in range(1, args.minutes + 1):
            clock.ms = start + minute * MINUTE_MS
            if minute % args.score_every == 0:
                rescore(runtime, rng, clock.ms)
            touch(runtime, states, args.changes_per_minute, rng, clock.ms)
            seconds, run = timed(lambda: runner.run(clock.ms))
            steady.append(seconds)
            people.append(run.people)
            decided.update(run.outcomes)
            if minute % args.full_every == 0:
                seconds, again = timed(lambda: trigger_runner(runtime, clock=clock).run(clock.ms))
                full.append(seconds)
                left.update(again.outcomes)
    finally:
        runtime.stop()
    return {
        "shopwise": str(Path(shopwise.__file__).parent),
        "first_run_s": first_s,
        "first_run_people": first.people,
        "minute_runs_s": steady,
        "minute_runs_people": people,
        "minute_median_s": round(statistics.median(steady), 3),
        "minute_median_people": statistics.median(people),
        "after_scoring_people": [
            people[minute - 1 : minute + 2]
            for minute in range(args.score_every, args.minutes - 1, args.score_every)
        ],
        "full_runs_s": full,
        "full_median_s": round(statistics.median(full), 3),
        "ratio": round(statistics.median(full) / statistics.median(steady), 1),
        "decided": dict(decided),
        "left_for_the_full_runs": dict(left),
    }


def markdown(report: dict[str, Any]) -> str:
    host, setup = report["machine"], report["setup"]
    lines = [
        "# Journeys job: time of each minute's run",
        "",
        f"Machine: {host['cpu_model']}, {host['cores']} cores, {host['memory_gb']} GB. "
        "Command: `python benchmarks/journeys_runs.py` (one label per code measured; "
        "`PYTHONPATH=<src of that code>` and `--label` for code other than the checkout's).",
        "",
        f"{setup['profiles']} profiles within the shipped triggers' 60-day horizon in a fresh "
        f"SQLite store, {setup['email_share']:.0%} of them with an email address (the others "
        f"anonymous visitors); {setup['minutes']} simulated minutes, "
        f"{setup['changes_per_minute']} shoppers viewing or carting each minute, one run of the "
        f"job (the same runner) after each; every {setup['full_every']} minutes a new runner's "
        "first run (every profile within the horizon: what each run did before the wake-ups) at "
        "the same instant. Ratio: the first runs' median over the minute runs'. Every "
        f"{setup['score_every']} minutes every buyer's churn score is written again, as the "
        "customer-score job writes it.",
        "",
        "| code | minute run, median (s) | profiles read (median) | new runner's first run, "
        "median (s) | ratio | the very first run (s) | all minute runs (s) | profiles read by "
        "the three runs from each score refresh |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, run in report["runs"].items():
        scored = " / ".join(
            ", ".join(str(n) for n in runs) for runs in run.get("after_scoring_people", [])
        )
        lines.append(
            f"| {label} | {run['minute_median_s']} | {run['minute_median_people']} | "
            f"{run['full_median_s']} | {run['ratio']}x | {run['first_run_s']} | "
            f"{round(sum(run['minute_runs_s']), 1)} | {scored} |"
        )
    lines.append("")
    for label, run in report["runs"].items():
        left = run["left_for_the_full_runs"] or "nothing"
        lines.append(
            f"- {label}: decided over the minutes {run['decided']}; left for the new runners' "
            f"first runs at the same instants (nothing, when the wake-ups miss nothing): {left}."
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--minutes", type=int, default=90)
    parser.add_argument("--changes-per-minute", type=int, default=100)
    parser.add_argument("--full-every", type=int, default=10)
    parser.add_argument("--score-every", type=int, default=30)
    parser.add_argument("--email-share", type=float, default=0.4)
    parser.add_argument("--label", default=None, help="name of the code measured (commit)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    label = args.label or commit()
    with temp_dir("journeys-runs") as directory:
        run = measure(args, directory)
    setup = {
        "profiles": args.profiles,
        "minutes": args.minutes,
        "changes_per_minute": args.changes_per_minute,
        "full_every": args.full_every,
        "score_every": args.score_every,
        "email_share": args.email_share,
    }
    print(write_labelled_run(JSON_OUT, setup, label, run, markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
