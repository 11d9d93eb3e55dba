"""New products in /similar (issue 23): a product the model never saw gets its similar list from
the content featurizer a training run keeps (computed at request time for a product added after
training), and a known product whose model list is short gets content neighbours before the
category walk."""

from __future__ import annotations

import pickle
from typing import Any

from shopwise.recommend.related import ContentNeighbours, product_document
from shopwise.runtime import Runtime
from shopwise.worker import train_recommenders

from .test_related import Shop, _ids

OUTDOORS = {
    "tent0": ("Two-person dome tent", ["Outdoors", "Camping", "Tents"]),
    "tent1": ("Family tunnel tent", ["Outdoors", "Camping", "Tents"]),
    "bag0": ("Down sleeping bag", ["Outdoors", "Camping", "Sleeping bags"]),
    "bag1": ("Synthetic sleeping bag", ["Outdoors", "Camping", "Sleeping bags"]),
    "boot0": ("Leather hiking boots", ["Outdoors", "Hiking", "Boots"]),
}


def _rows(products: dict[str, tuple[str, list[str]]]) -> list[dict[str, Any]]:
    return [
        {
            "id": pid,
            "title": title,
            "category": path,
            "price": 50.0,
            "stock": 5,
            "created_at": "2026-01-01T00:00:00Z",
        }
        for pid, (title, path) in products.items()
    ]


def _trained_with_outdoors(runtime: Runtime) -> None:
    """The outdoor branch is in the catalog at training (nobody viewed it)."""
    runtime.catalog.upsert(_rows(OUTDOORS))
    train_recommenders(runtime, "transition", lambda _m: None)


def test_a_product_added_after_training_is_similar_by_content_issue_23(shop: Shop) -> None:
    client, runtime, keys = shop
    _trained_with_outdoors(runtime)
    artifact = runtime.champion.get()
    assert artifact is not None and artifact.content is not None
    new = {"tent9": ("Ultralight dome tent", ["Outdoors", "Camping", "Tents"])}
    runtime.catalog.upsert(_rows(new))  # after training: the model never saw it
    assert "tent9" not in artifact.items.positions
    body = client.get("/v1/products/tent9/similar", params={"n": 5}, headers=keys["secret"])
    assert body.status_code == 200
    items = body.json()["items"]
    assert _ids(body.json()) == ["tent0", "tent1", "bag0", "bag1", "boot0"]  # leaf, parent, dept
    assert all(item["reasons"] == ["similar:content"] for item in items)
    assert body.json()["fallback"] is None
    longer = client.get("/v1/products/tent9/similar", params={"n": 9}, headers=keys["secret"])
    reasons = [item["reasons"] for item in longer.json()["items"]]
    assert len(reasons) == 9 and reasons[:5] == [["similar:content"]] * 5
    assert reasons[5:] == [["fallback:popular"]] * 4  # the department ran out: the walk goes on
    public = client.get("/v1/products/tent9/similar", params={"n": 5}, headers=keys["write"])
    assert {r for item in public.json()["items"] for r in item["reasons"]} == {"related"}


def test_a_product_without_model_evidence_gets_content_before_the_walk(shop: Shop) -> None:
    """k7 was in the catalog at training, never viewed: the products like it in content (its
    leaf and brand first), not its leaf's best sellers."""
    client, _runtime, keys = shop
    body = client.get("/v1/products/k7/similar", params={"n": 10}, headers=keys["secret"]).json()
    ids = _ids(body)
    assert ids[:3] == ["k1", "k3", "k5"]  # same leaf and brand (Acme)
    assert set(ids[:7]) == {f"k{i}" for i in range(7)}  # then the rest of the leaf
    assert all(pid.startswith("g") for pid in ids[7:])  # then the department
    assert {r for item in body["items"] for r in item["reasons"]} == {"similar:content"}


def test_content_neighbours_follow_the_model_list(shop: Shop) -> None:
    client, _runtime, keys = shop
    body = client.get("/v1/products/k2/similar", params={"n": 8}, headers=keys["secret"]).json()
    reasons = [item["reasons"][0] for item in body["items"]]
    model = reasons.count("similar:co-viewed")
    assert model >= 2 and reasons == ["similar:co-viewed"] * model + ["similar:content"] * (
        8 - model
    )
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_complementary_lists_take_no_content_neighbours(shop: Shop) -> None:
    client, _runtime, keys = shop
    body = client.get("/v1/products/k7/complementary", headers=keys["secret"]).json()
    assert "similar:content" not in {r for item in body["items"] for r in item["reasons"]}


def test_content_neighbours_answer_any_row_and_survive_pickling() -> None:
    documents = ["red wool scarf cat_winter", "blue wool hat cat_winter", "garden hose cat_garden"]
    index = ContentNeighbours.fit(documents)
    assert index is not None and ContentNeighbours.fit(["", ""]) is None
    items, scores = index.similar_to("green wool scarf cat_winter", 5)
    assert items.tolist() == [0, 1] and scores[0] > scores[1] > 0  # the hose shares nothing
    assert index.similar_to("green wool scarf cat_winter", 5)[0] is items  # remembered
    assert index.similar_to("nothing in common", 5)[0].tolist() == []
    copy = pickle.loads(pickle.dumps(index))
    assert copy.similar_to("green wool scarf cat_winter", 5)[0].tolist() == [0, 1]


def test_a_catalog_row_is_featurized_as_training_does(shop: Shop) -> None:
    _client, runtime, _keys = shop
    _trained_with_outdoors(runtime)
    artifact = runtime.champion.get()
    assert artifact is not None and artifact.content is not None
    tent = runtime.catalog.snapshot()["tent1"]
    items, scores = artifact.content.similar_to(product_document(tent), 1)
    assert artifact.items.ids[int(items[0])] == "tent1" and abs(float(scores[0]) - 1.0) < 1e-5
