"""/similar serves the learned ranker's neighbours (issue 23): in the ranker's own order when the
artifact holds them (``similar:learned``, no category reorder, the evidence filter and the rules
kept), the transition generator in category order when a training run could not learn them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import scipy.sparse as sp
from tests.serving.conftest import event

from shopwise.recommend import RecommenderArtifact
from shopwise.recommend.related import NO_EVIDENCE, ItemNeighbours
from shopwise.recommend.related_ranker import RelatedRankerConfig
from shopwise.runtime import Runtime
from shopwise.worker import train_recommenders

from .test_related import Shop, _ids

LEARNED = "similar:learned"


def _model_items(body: dict[str, Any], reason: str) -> list[str]:
    return [item["product_id"] for item in body["items"] if item["reasons"] == [reason]]


def _learned_row(artifact: RecommenderArtifact, product: str, ranked: dict[str, float]) -> None:
    """Give ``product`` exactly the learned neighbours ``ranked`` (product id -> score)."""
    n_items = len(artifact.items)
    rows = [artifact.items.positions[product]] * len(ranked)
    cols = [artifact.items.positions[pid] for pid in ranked]
    values = np.asarray(list(ranked.values()), dtype=np.float32)
    weights = sp.csr_matrix((values, (rows, cols)), shape=(n_items, n_items), dtype=np.float32)
    artifact.similar = ItemNeighbours("related_ranker_similar", weights)


def _get(shop: Shop, product: str, n: int = 10) -> dict[str, Any]:
    client, _runtime, keys = shop
    response = client.get(
        f"/v1/products/{product}/similar", params={"n": n}, headers=keys["secret"]
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_similar_serves_the_learned_list_in_its_own_order(shop: Shop) -> None:
    """Toys and garden items first, as the ranker put them: the transition source's category
    reorder would have moved the kitchen item k2 to the front; the neighbour without evidence is
    dropped; content neighbours and the walk follow."""
    _client, runtime, _keys = shop
    artifact = runtime.champion.get()
    assert artifact is not None
    _learned_row(artifact, "k1", {"t3": 0.5, "g2": 0.3, "k2": 0.2, "k5": NO_EVIDENCE})
    body = _get(shop, "k1")
    assert _ids(body)[:3] == ["t3", "g2", "k2"]
    assert _model_items(body, LEARNED) == ["t3", "g2", "k2"]
    assert "k5" not in _model_items(body, LEARNED)
    assert "similar:co-viewed" not in {r for item in body["items"] for r in item["reasons"]}
    assert len(body["items"]) == 10 and "k1" not in _ids(body)
    scores = [item["score"] for item in body["items"][:3]]
    assert scores == sorted(scores, reverse=True)


def test_the_rules_still_apply_to_the_learned_list(shop: Shop) -> None:
    client, runtime, keys = shop
    artifact = runtime.champion.get()
    assert artifact is not None
    _learned_row(artifact, "k1", {"t3": 0.5, "g2": 0.3, "k2": 0.2})
    assert _model_items(_get(shop, "k1"), LEARNED) == ["t3", "g2", "k2"]
    client.patch("/v1/catalog/products/t3", json={"stock": 0}, headers=keys["secret"])
    assert _model_items(_get(shop, "k1"), LEARNED) == ["g2", "k2"]


def test_without_learned_neighbours_similar_falls_back_to_the_transition_model(
    shop: Shop,
) -> None:
    """The shop fixture is too small to learn the ranker: training says why, keeps none, and
    /similar serves the transition generator, closest category first."""
    _client, runtime, _keys = shop
    artifact = runtime.champion.get()
    assert artifact is not None
    assert artifact.similar is None
    assert artifact.stats["similar"].startswith("skipped: ")
    assert "transition" in artifact.stats["similar"]
    body = _get(shop, "k1")
    related = _model_items(body, "similar:co-viewed")
    assert related and LEARNED not in {r for item in body["items"] for r in item["reasons"]}
    depth = [2 if pid.startswith("k") else 1 if pid.startswith("g") else 0 for pid in related]
    assert depth == sorted(depth, reverse=True)  # the fallback keeps its category reorder


def _more_journeys(shoppers: int) -> list[dict[str, Any]]:
    """Shoppers who browse k0 -> k1 -> k2 ... within a category, like the fixture's."""
    start = datetime(2026, 2, 12, tzinfo=UTC)
    rows = []
    for shopper in range(shoppers):
        prefix = "kgt"[shopper % 3]
        for step in range(6):
            when = start + timedelta(days=shopper % 7, minutes=step)
            product = f"{prefix}{step}"
            rows.append(event("product_viewed", f"more{shopper}", when, product_id=product))
    return rows


def _retrain(runtime: Runtime, rows: list[dict[str, Any]]) -> None:
    last = 0
    for start in range(0, len(rows), 200):
        result = runtime.collector.ingest(rows[start : start + 200])
        assert not result.rejected
        last = result.last_event_id
    assert runtime.bus.wait_until_consumed(last, timeout=60)
    train_recommenders(runtime, "transition", lambda _m: None)


def test_a_training_run_with_enough_data_keeps_the_learned_lists(shop: Shop) -> None:
    _client, runtime, _keys = shop
    _retrain(runtime, _more_journeys(3 * RelatedRankerConfig().min_queries))
    artifact = runtime.champion.get()
    assert artifact is not None and artifact.similar is not None
    assert artifact.stats["similar"] == "related_ranker_similar"
    rows = np.diff(artifact.similar.weights.indptr)
    viewed = {f"{prefix}{step}" for prefix in "kgt" for step in range(6)}
    kept = {artifact.items.ids[i] for i in np.flatnonzero(rows)}
    assert kept == viewed  # an item nobody viewed keeps no row: content answers for it
    items, _scores = artifact.similar.similar_items(artifact.items.positions["k1"], 100)
    learned = [artifact.items.ids[int(i)] for i in items]
    body = _get(shop, "k1", n=20)
    served = _model_items(body, LEARNED)
    assert served and served == [pid for pid in learned if pid in served]
    assert _ids(body)[: len(served)] == served
