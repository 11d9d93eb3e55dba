"""The answer cache: repeated requests with unchanged inputs reuse the ruled list, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from tests.serving.conftest import event

from shopwise.decide import RuledList
from shopwise.runtime import Runtime
from shopwise.serving import AnswerCache, RecommendationRequest

Shop = tuple[TestClient, Runtime, dict[str, dict[str, str]]]


def ruled(*ids: str) -> RuledList:
    return RuledList(items=[], rules_fired=list(ids), fallback=None)


def test_entries_live_while_generation_and_inputs_are_the_same() -> None:
    cache: AnswerCache[RuledList] = AnswerCache(max_entries=2)
    model, rules = object(), object()
    answer = ruled("a")
    cache.put("k", (model, rules), ("state", 1), answer)
    assert cache.get("k", (model, rules), ("state", 1)) is answer
    assert cache.get("k", (model, rules), ("state", 2)) is None  # the shopper changed
    assert cache.get("k", (object(), rules), ("state", 1)) is None  # a new model
    cache.put("k2", (model, object()), ("state", 1), ruled("b"))  # a new rule set ...
    assert len(cache) == 1  # ... drops every answer of the old one
    assert cache.get("k", (model, rules), ("state", 1)) is None


def test_least_recently_used_answers_go_first() -> None:
    cache: AnswerCache[RuledList] = AnswerCache(max_entries=2)
    generation = (object(),)
    for key in ("a", "b"):
        cache.put(key, generation, (), ruled(key))
    assert cache.get("a", generation, ()) is not None
    cache.put("c", generation, (), ruled("c"))
    assert cache.get("b", generation, ()) is None
    assert cache.get("a", generation, ()) is not None


def test_size_zero_turns_it_off() -> None:
    cache: AnswerCache[RuledList] = AnswerCache(max_entries=0)
    cache.put("a", (), (), ruled("a"))
    assert cache.get("a", (), ()) is None
    with pytest.raises(ValueError, match="negative"):
        AnswerCache(max_entries=-1)


def _get(client: TestClient, keys: dict[str, dict[str, str]], anon: str) -> dict[str, Any]:
    params: dict[str, str | int] = {"placement": "home", "anonymous_id": anon, "n": 3}
    body: dict[str, Any] = client.get(
        "/v1/recommendations", params=params, headers=keys["write"]
    ).json()
    return body


def test_a_repeated_request_reuses_the_list_but_not_the_id(shop: Shop) -> None:
    client, runtime, keys = shop
    view = event("product_viewed", "again", datetime.now(UTC), product_id="k1")
    client.post("/v1/events", json={"batch": [view]}, headers=keys["write"])
    first, second = _get(client, keys, "again"), _get(client, keys, "again")
    assert first["items"] == second["items"]
    assert first["recommendation_id"] != second["recommendation_id"]
    assert len(runtime.recommendations._answers) >= 1
    # the shopper's next event is a new input: the next answer follows it
    step = event("product_viewed", "again", datetime.now(UTC), product_id="k2")
    client.post("/v1/events", json={"batch": [step]}, headers=keys["write"])
    third = _get(client, keys, "again")
    assert third["items"][0]["product_id"] == "k3"
    assert third["items"] != first["items"]


def test_a_new_rule_set_is_applied_to_a_cached_shopper_at_once(shop: Shop) -> None:
    client, _runtime, keys = shop
    view = event("product_viewed", "ruled", datetime.now(UTC), product_id="k1")
    client.post("/v1/events", json={"batch": [view]}, headers=keys["write"])
    before = _get(client, keys, "ruled")
    top = before["items"][0]["product_id"]
    body = f"rules:\n  - {{name: no-top, type: filter, exclude: {{product_ids: [{top}]}}}}\n"
    response = client.put(
        "/v1/rules", content=body, headers={**keys["admin"], "Content-Type": "application/yaml"}
    )
    assert response.status_code in (200, 201), response.text
    after = _get(client, keys, "ruled")
    assert top not in [i["product_id"] for i in after["items"]]
    assert "no-top" in after["rules_fired"]
    assert after["rules_version"] > before["rules_version"]


def test_a_response_body_is_its_public_form_with_its_own_id(shop: Shop) -> None:
    _client, runtime, _keys = shop
    request = RecommendationRequest(placement="home", anonymous_id="body", n=3)
    first = runtime.recommendations.recommend(request)
    second = runtime.recommendations.recommend(request)
    assert second.answer is first.answer  # rendered once, shared
    for served in (first, second):
        assert orjson.loads(served.json()) == served.public()
    assert first.public()["items"] and first.recommendation_id != second.recommendation_id
    assert orjson.loads(second.json())["recommendation_id"] == second.recommendation_id
