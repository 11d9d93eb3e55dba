"""The champion/challenger gate on the demo shop: a distribution shift is detected by the drift
check, which requests the retraining; the retrained model that learned it replaces the champion,
a deliberately worse one is refused with its reason, and rollback restores the previous champion
at once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import quick_demo

from shopwise.drift import DriftMonitor
from shopwise.recommend.candidates import FloatArray, IntArray, InteractionData
from shopwise.recommend.training import RECIPES
from shopwise.runtime import Runtime
from shopwise.simulate import SimulatedShop
from shopwise.worker import (
    GATE_METRIC,
    Scheduler,
    check_drift,
    list_models,
    promote_model,
    recommender_jobs,
    rollback_model,
    train_recommenders,
)

SURGE_DAYS = 14
"""Days of the injected category surge after the demo shop's last day."""
NEW_PRODUCTS = 24


class Shuffled:
    """A deliberately worse recommender: random scores, whatever the history."""

    name = "shuffled"

    def __init__(self) -> None:
        self.n_items = 0

    def fit(self, data: InteractionData) -> None:
        self.n_items = data.n_items

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        rng = np.random.default_rng(len(histories))
        return rng.random((len(histories), self.n_items)).astype(np.float32)

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        scores = self.score([np.asarray([item])])[0]
        top = np.argsort(-scores)[:n]
        return top.astype(np.int64), scores[top]


def _garden(index: int) -> dict[str, Any]:
    """A product of the new department, in a price band the shop never had."""
    return {
        "id": f"garden-{index:03d}",
        "title": f"Greenline Ride-on Mower {index}",
        "description": "A ride-on lawn mower for large gardens, with a petrol engine.",
        "category": ["Garden", "Machines", "Mowers"],
        "brand": "Greenline",
        "price": 2400.0 + 50 * index,
        "currency": "EUR",
        "stock": 10,
    }


def _view(user: str, anonymous: str, product: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {
        "type": "product_viewed",
        "user_id": user,
        "anonymous_id": anonymous,
        "timestamp": at.isoformat(timespec="milliseconds"),
        "message_id": str(uuid.uuid4()),
        "properties": {
            "product_id": product["id"],
            "price": product["price"],
            "category": " > ".join(product["category"]),
        },
    }


def inject_surge(runtime: Runtime, shop: SimulatedShop, seed: int = 7) -> int:
    """A surge of a new department: every day after the shop's last, shoppers of the demo browse
    chains of the new products (each one leads to the next); the time of the last event (ms)."""
    rng = np.random.default_rng(seed)
    products = [_garden(i) for i in range(NEW_PRODUCTS)]
    runtime.catalog.upsert(products)
    people = sorted(
        {
            (e["user_id"], e["anonymous_id"])
            for e in shop.events
            if "anonymous_id" in e and e.get("user_id")
        }
    )
    last = max(datetime.fromisoformat(e["timestamp"]) for e in shop.events)
    events = []
    for day in range(SURGE_DAYS):
        for person in rng.choice(len(people), size=40, replace=False):
            user, anonymous = people[int(person)]
            at = last + timedelta(days=day + 1, seconds=float(rng.integers(0, 80_000)))
            start = int(rng.integers(0, NEW_PRODUCTS - 4))
            for step in range(int(rng.integers(3, 6))):
                events.append(_view(user, anonymous, products[start + step], at))
                at += timedelta(seconds=40)
    events.sort(key=lambda e: e["timestamp"])
    last_id = 0
    for start in range(0, len(events), 500):
        answer = runtime.collector.ingest(events[start : start + 500])
        assert not answer.rejected, answer.rejected[:3]
        last_id = max(last_id, answer.last_event_id)
    assert runtime.bus.wait_until_consumed(last_id, timeout=60) and len(events) > 1000
    return int(datetime.fromisoformat(events[-1]["timestamp"]).timestamp() * 1000)


def _quiet(_message: str) -> None:
    pass


@pytest.mark.slow
def test_a_surge_is_learned_by_the_retrained_model_and_a_worse_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with quick_demo(tmp_path / "var", "transition") as (_client, runtime, shop):
        first = runtime.recommenders.champion()
        assert first is not None
        trained = runtime.recommenders.meta(first)
        assert (
            trained["gate"]["reason"] == "no champion yet" and trained["holdout"][GATE_METRIC] > 0
        )
        assert trained["data_window"]["end_ms"] < trained["gate"]["window"]["end_ms"]
        assert len(trained["data_fingerprint"]) == 64 and trained["size_bytes"] > 0
        surge_end = inject_surge(runtime, shop)

        monitor = DriftMonitor(
            runtime.engine,
            runtime.catalog,
            runtime.consent,
            runtime.recommenders,
            tmp_path / "drift",
            champion=runtime.champion,
            clock=lambda: surge_end / 1000 + 1,
        )
        jobs = {job.name: job for job in recommender_jobs(runtime, "transition")}
        checked = check_drift(monitor, "retrain-transition", None, _quiet)
        assert checked["verdict"] == "drift", checked
        assert {"category", "price_band"} <= set(checked["drifted"]), checked["drifted"]
        outcome = Scheduler(runtime.engine, list(jobs.values()), "w").run_due(
            jobs["retrain-transition"]
        )  # due now: the drift check requested it, a day before its schedule
        assert outcome.status == "succeeded", outcome.detail
        retrained = outcome.detail
        assert retrained["promoted"], retrained["gate"]
        assert retrained["peak_rss_mib"] > 0  # trained in a process of its own
        second = retrained["version"]
        runtime.champion.refresh()  # the job trained in its own process; this one reloads
        assert runtime.recommenders.champion() == second == runtime.champion.version
        gate = runtime.recommenders.meta(second)["gate"]
        assert gate["champion_version"] == first and gate["champion_scored"] == "as trained"
        assert gate["challenger"][GATE_METRIC] > gate["champion"][GATE_METRIC] * 1.2
        assert gate["window"]["queries"] >= runtime.settings.gate_min_queries

        monkeypatch.setitem(RECIPES, "shuffled", Shuffled)
        worse = train_recommenders(runtime, "shuffled", _quiet)
        assert not worse["promoted"]
        assert runtime.recommenders.champion() == second == runtime.champion.version
        refused = runtime.recommenders.meta(worse["version"])["gate"]
        assert refused["promoted"] is False and refused["champion_scored"] == "refitted"
        assert refused["reason"].startswith(f"holdout {GATE_METRIC}")
        assert "worse than the champion's" in refused["reason"]
        rows = {row["version"]: row for row in list_models(runtime, "recommenders")}
        assert rows[worse["version"]]["status"] == "challenger"
        assert rows[worse["version"]]["gate"] == refused["reason"]
        assert rows[second]["status"] == "champion" and rows[first]["status"] == "previous"

        back = rollback_model(runtime, "recommenders", "surge model misbehaves")
        assert back["version"] == first == runtime.champion.version
        assert back["precomputed"] is not None  # the lists made with it when it was champion
        assert runtime.precomputed.get().model_version == first  # type: ignore[union-attr]
        again = promote_model(runtime, "recommenders", second, "fixed")
        assert again["version"] == second and again["previous"][-1] == first

        daily = train_recommenders(runtime, "transition", _quiet)
        same = runtime.recommenders.meta(daily["version"])["gate"]
        assert daily["promoted"] and same["champion_scored"] == "same recipe"
        assert runtime.recommenders.meta(daily["version"])["holdout"] == same["challenger"]
