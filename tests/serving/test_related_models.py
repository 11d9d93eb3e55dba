"""The models behind the item-to-item lists (issue 23, part 4): /complementary ranks with the
EASE neighbours a training run keeps (the transition model when there are none), /similar with
the transition generator in both directions, reordered by category rather than filtered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.serving.conftest import event

from shopwise.runtime import Runtime
from shopwise.worker import train_recommenders

from .test_related import Shop, _ids


def _retrain(runtime: Runtime, rows: list[dict[str, Any]]) -> None:
    result = runtime.collector.ingest(rows)
    assert not result.rejected
    assert runtime.bus.wait_until_consumed(result.last_event_id, timeout=60)
    train_recommenders(runtime, "transition", lambda _m: None)


def _bought_apart(shoppers: int) -> list[dict[str, Any]]:
    """Shoppers who viewed k1, then t5 two days later: one profile, never one session, so the
    session-bound transition model has no evidence for the pair and EASE has."""
    start = datetime(2026, 2, 20, tzinfo=UTC)
    rows = []
    for shopper in range(shoppers):
        anon = f"apart{shopper}"
        rows.append(event("product_viewed", anon, start, product_id="k1"))
        rows.append(event("product_viewed", anon, start + timedelta(days=2), product_id="t5"))
    return rows


def _model_items(body: dict[str, Any], reason: str) -> list[str]:
    return [item["product_id"] for item in body["items"] if item["reasons"] == [reason]]


def test_complementary_is_served_from_ease(shop: Shop) -> None:
    client, runtime, keys = shop
    _retrain(runtime, _bought_apart(6))
    artifact = runtime.champion.get()
    assert artifact is not None and artifact.complements is not None
    assert "customer sequences" in artifact.stats["complements"]  # the shop has no orders
    position = artifact.items.positions["k1"]
    items, _scores = artifact.complements.similar_items(position, 100)
    ranked = [artifact.items.ids[int(i)] for i in items]
    assert next(pid for pid in ranked if not pid.startswith("k")) == "t5"  # EASE's top other
    body = client.get("/v1/products/k1/complementary", headers=keys["secret"]).json()
    assert _model_items(body, "complementary:co-visited")[:1] == ["t5"]
    assert all(not pid.startswith("k") for pid in _model_items(body, "complementary:co-visited"))

    artifact.complements = None  # an artifact over EASE's limit: the transition model answers
    body = client.get("/v1/products/k1/complementary", headers=keys["secret"]).json()
    assert "t5" not in _model_items(body, "complementary:co-visited")


def test_similar_reorders_by_category_and_keeps_other_categories(shop: Shop) -> None:
    """Without the learned ranker (``artifact.similar``), k1 is viewed just before g2 and t3 more
    often than before any kitchen item: /similar shows them after the kitchen items (same leaf),
    g2 (same department) before t3, all with the model's reason, where the old rule dropped
    both."""
    client, runtime, keys = shop
    start = datetime(2026, 2, 20, tzinfo=UTC)
    rows = []
    for shopper in range(30):
        anon = f"cross{shopper}"
        rows.append(event("product_viewed", anon, start, product_id="k1"))
        other = "g2" if shopper % 2 else "t3"
        rows.append(event("product_viewed", anon, start + timedelta(minutes=1), product_id=other))
    _retrain(runtime, rows)
    artifact = runtime.champion.get()
    assert artifact is not None
    artifact.similar = None  # a run that could not train the ranker: the transition model
    position = artifact.items.positions["k1"]
    raw, _scores = artifact.model.similar_items(position, 3)
    assert {artifact.items.ids[int(i)] for i in raw[:2]} == {"g2", "t3"}  # the model's top two
    body = client.get("/v1/products/k1/similar", params={"n": 10}, headers=keys["secret"]).json()
    related = _model_items(body, "similar:co-viewed")
    kitchen = [pid for pid in related if pid.startswith("k")]
    assert kitchen and related == [*kitchen, "g2", "t3"]
    assert _ids(body)[: len(related)] == related
    scores = [item["score"] for item in body["items"][: len(related)]]
    assert scores == sorted(scores, reverse=True)
