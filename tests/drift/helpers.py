"""A synthetic store for drift: a reference window the champion is trained on, then recent events.

Three categories of 20 products priced 10-50; shoppers browse one category each, in sessions of a
few views, a cart add and sometimes an order, at random hours. The recent window is drawn the same
way (unchanged), with most shoppers in one category (a category surge), or with a new expensive
range of products (a new price band).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from shopwise.recommend.training import train_recommender
from shopwise.runtime import Runtime

DAY = 24 * 3600 * 1000
CATEGORIES = ("Home", "Sports", "Books")
Shift = Literal["none", "surge", "price"]


def products() -> list[dict[str, Any]]:
    rows = [
        {
            "id": f"{c[0].lower()}{i}",
            "title": f"{c} product {i}",
            "category": [c, "All"],
            "price": 10.0 + 2 * i,
            "created_at": "2026-01-01T00:00:00Z",
        }
        for c in CATEGORIES
        for i in range(20)
    ]
    rows += [
        {
            "id": f"lux{i}",
            "title": f"Luxury item {i}",
            "category": ["Home", "Luxury"],
            "price": 600.0 + 20 * i,
            "created_at": "2026-01-01T00:00:00Z",
        }
        for i in range(10)
    ]
    return rows


def _event(kind: str, shopper: str, at_ms: int, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4().hex,
        "type": kind,
        "anonymous_id": shopper,
        "timestamp": datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(),
        "properties": props,
    }


def journeys(
    rng: np.random.Generator, prefix: str, start_ms: int, end_ms: int, shift: Shift = "none"
) -> list[dict[str, Any]]:
    """200 shoppers, one visit each in ``[start_ms, end_ms)``: 4-6 views in their category (or in
    the luxury range for half of them under ``price``), a cart add, an order one time in three."""
    rows: list[dict[str, Any]] = []
    for s in range(200):
        shopper = f"{prefix}-{s}"
        if shift == "surge" and rng.random() < 0.7:
            category = "Sports"
        else:
            category = CATEGORIES[int(rng.integers(3))]
        pool = [f"{category[0].lower()}{i}" for i in range(20)]
        if shift == "price" and rng.random() < 0.5:
            pool = [f"lux{i}" for i in range(10)]
        at = int(rng.integers(start_ms, end_ms - 3_600_000))
        seen = [str(p) for p in rng.choice(pool, size=int(rng.integers(4, 7)), replace=False)]
        for step, product in enumerate(seen):
            rows.append(
                _event("product_viewed", shopper, at + step * 60_000, {"product_id": product})
            )
        rows.append(_event("product_added", shopper, at + 600_000, {"product_id": seen[-1]}))
        if rng.random() < 1 / 3:
            line = {"product_id": seen[-1], "quantity": 1}
            order = {
                "order_id": f"o-{shopper}",
                "products": [line],
                "revenue": 30.0,
                "currency": "EUR",
            }
            rows.append(_event("order_completed", shopper, at + 900_000, order))
    return rows


def ingest(runtime: Runtime, rows: list[dict[str, Any]]) -> None:
    last = 0
    for start in range(0, len(rows), 500):
        result = runtime.collector.ingest(rows[start : start + 500])
        assert not result.rejected, result.rejected[:3]
        last = result.last_event_id or last
    assert runtime.bus.wait_until_consumed(last, timeout=60)


@dataclass
class DriftShop:
    """The store with a champion trained on the reference window, and the windows' bounds."""

    runtime: Runtime
    now_ms: int
    reference: tuple[int, int]

    def add_recent(self, shift: Shift, seed: int = 2) -> None:
        """Recent events, in the last 7 days, drawn with ``shift``."""
        rows = journeys(
            np.random.default_rng(seed), f"r{seed}", self.now_ms - 6 * DAY, self.now_ms, shift
        )
        ingest(self.runtime, rows)


def drift_shop(runtime: Runtime) -> DriftShop:
    """Catalog and reference events (30 to 10 days ago), and a transition-model champion trained
    on them whose meta records that data window."""
    now = int(time.time() * 1000)
    reference = (now - 30 * DAY, now - 10 * DAY)
    runtime.catalog.upsert(products())
    ingest(runtime, journeys(np.random.default_rng(1), "ref", *reference))
    artifact, stats = train_recommender(
        runtime.engine, runtime.catalog, runtime.consent, "transition", lambda _m: None
    )
    window = {"start_ms": reference[0], "end_ms": reference[1]}
    runtime.recommenders.save(artifact, {**stats, "data_window": window}, promote=True)
    return DriftShop(runtime, now, reference)
