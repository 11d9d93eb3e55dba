"""Consent at every exit of the serving stage: answers, decisions, session state, answer cache,
exposures, precomputed lists and training, a withdrawal holding for the very next request.

Regression: consent was honoured in training and stored scores but ignored at serving time (a
shopper refusing personalization got ``precomputed:shopwise`` and ``session:transition`` lists).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.serving.conftest import event, journeys, product_rows

from shopwise.api import create_app
from shopwise.auth import KeyKind
from shopwise.recommend.training import consented_interactions
from shopwise.runtime import Runtime
from shopwise.schema import EventType
from shopwise.settings import Settings
from shopwise.store import events
from shopwise.worker import refresh_candidates, train_recommenders

Shop = tuple[TestClient, Runtime, dict[str, dict[str, str]]]
URL = "/v1/recommendations"
PERSONAL_REASONS = ("precomputed:", "session:", "personalized")
"""Full reason codes (secret keys) and the public one (write keys) of a personalized item."""


def _stating(choices: dict[str, bool], anon: str, **props: Any) -> dict[str, Any]:
    """A product view by ``anon`` that states these consent choices."""
    row = event("product_viewed", anon, datetime.now(UTC), **props)
    row["context"] = {"consent": {"purposes": choices}}
    return row


def _send(client: TestClient, keys: dict[str, dict[str, str]], *rows: dict[str, Any]) -> None:
    answer = client.post("/v1/events", json={"batch": list(rows)}, headers=keys["write"])
    assert answer.status_code == 200 and answer.json()["accepted"] == len(rows)


def _answer(client: TestClient, keys: dict[str, dict[str, str]], anon: str) -> dict[str, Any]:
    params = {"placement": "home", "anonymous_id": anon, "n": 5}
    body: dict[str, Any] = client.get(URL, params=params, headers=keys["write"]).json()
    return body


def _personal_reasons(body: dict[str, Any]) -> list[str]:
    return [r for item in body["items"] for r in item["reasons"] if r.startswith(PERSONAL_REASONS)]


def _settle(runtime: Runtime) -> None:
    """Wait until everything queued so far is committed and folded into profiles."""
    marker = event("page_viewed", "settler", datetime.now(UTC))
    last = runtime.collector.ingest([marker]).last_event_id
    assert runtime.bus.wait_until_consumed(last, timeout=30)


def test_a_refusal_gives_a_non_personalized_answer_from_the_next_request_on(shop: Shop) -> None:
    client, _runtime, keys = shop
    before = _answer(client, keys, "s1")
    assert before["personalized"] is True and _personal_reasons(before)
    _send(client, keys, _stating({"personalization": False}, "s1", product_id="k1"))
    # no waiting for the profile consumer: the statement holds as soon as it is committed
    after = _answer(client, keys, "s1")
    assert after["personalized"] is False and after["items"]
    assert not _personal_reasons(after)
    assert after["fallback"] and after["degraded"] == []
    _send(client, keys, _stating({"personalization": True}, "s1", product_id="k2"))
    again = _answer(client, keys, "s1")
    assert again["personalized"] is True and _personal_reasons(again)


def test_session_state_and_answer_cache_never_hold_a_refusing_shoppers_data(shop: Shop) -> None:
    client, runtime, keys = shop
    _send(client, keys, _stating({"personalization": True}, "fresh", product_id="g1"))
    assert runtime.online.recent("fresh", None)
    _send(client, keys, _stating({"personalization": False}, "fresh", product_id="g2"))
    assert runtime.online.recent("fresh", None) == []  # the refusal dropped what was held
    _send(client, keys, event("product_viewed", "fresh", datetime.now(UTC), product_id="g3"))
    assert runtime.online.recent("fresh", None) == []
    body = _answer(client, keys, "fresh")
    assert body["personalized"] is False
    cached = list(runtime.recommendations._answers._entries)
    assert not any("fresh" in (key.anonymous_id, key.user_id) for key in cached)


def test_decide_uses_no_personal_data_without_consent_and_no_message_without_marketing(
    shop: Shop,
) -> None:
    client, runtime, keys = shop
    runtime.score_provider = lambda _id: {"purchase_7d": 0.91}
    carted = datetime.now(UTC) - timedelta(hours=3)

    def decide(anon: str, choices: dict[str, bool]) -> dict[str, Any]:
        cart = event("product_added", anon, carted, product_id="k3")
        cart["context"] = {"consent": {"purposes": choices}}
        _send(client, keys, cart)
        _settle(runtime)
        params = {"placement": "home", "anonymous_id": anon}
        body: dict[str, Any] = client.get("/v1/decide", params=params, headers=keys["write"]).json()
        return body

    everything = decide("ann", {"marketing": True})
    assert everything["message"]["name"] == "cart-reminder"
    assert everything["banner"]["name"] == "discount-for-likely-buyers"
    no_marketing = decide("ben", {"marketing": False})
    assert no_marketing["message"] is None and no_marketing["personalized"] is True
    assert no_marketing["banner"]["name"] == "discount-for-likely-buyers"
    no_personal = decide("cat", {"personalization": False, "marketing": True})
    assert no_personal["message"] is None and no_personal["personalized"] is False
    assert no_personal["banner"] is None or no_personal["banner"]["name"] != (
        "discount-for-likely-buyers"
    )


def test_exposures_are_kept_only_with_analytics_consent(shop: Shop) -> None:
    client, runtime, keys = shop
    _send(client, keys, _stating({"analytics": False}, "quiet", product_id="t1"))
    _send(client, keys, _stating({"analytics": True}, "loud", product_id="t1"))
    for anon in ("quiet", "loud"):
        assert _answer(client, keys, anon)["items"]
    runtime.exposures.flush()
    _settle(runtime)
    found = _exposed(runtime)
    assert "loud" in found and "quiet" not in found


def _exposed(runtime: Runtime) -> set[str]:
    """The anonymous ids that exposures were stored for."""
    query = sa.select(events.c.anonymous_id).where(events.c.type == EventType.RECOMMENDATION_VIEWED)
    with runtime.engine.connect() as conn:
        return {row.anonymous_id for row in conn.execute(query)}


def _listed(runtime: Runtime) -> set[str]:
    """The profiles with a precomputed list of the record serving holds."""
    record = runtime.precomputed.get()
    assert record is not None
    return set(runtime.candidate_lists.read_all(record.model_version))


def test_precomputed_lists_and_training_leave_refusing_profiles_out(shop: Shop) -> None:
    client, runtime, keys = shop
    s2 = runtime.profiles.canonical("s2")
    assert s2 is not None
    assert s2 in _listed(runtime)
    _send(client, keys, _stating({"personalization": False}, "s2", product_id="k5"))
    _settle(runtime)
    refresh_candidates(runtime, lambda _m: None)
    assert s2 not in _listed(runtime)
    interactions, excluded = consented_interactions(runtime.engine, runtime.consent)
    assert excluded > 0 and s2 not in {i.profile for i in interactions}


def _client(tmp_path: Path, **consent: str) -> tuple[Settings, Runtime]:
    settings = Settings(data_dir=tmp_path / "var", log_level="WARNING", **consent)
    return settings, Runtime.build(settings, migrate=True)


def test_with_opt_in_personalization_silence_refuses_and_a_grant_allows(tmp_path: Path) -> None:
    settings, runtime = _client(tmp_path, consent_personalization="opt_in")
    with TestClient(create_app(settings, runtime)) as client:
        runtime.catalog.upsert(product_rows())
        rows = journeys()
        for row in rows:  # the even shoppers grant personalization, the odd ones say nothing
            if int(row["anonymous_id"][1:]) % 2 == 0:
                row["context"] = {"consent": {"purposes": {"personalization": True}}}
        runtime.collector.ingest(rows)
        _settle(runtime)
        train_recommenders(runtime, "transition", lambda _m: None)
        keys = {k.value: {"Authorization": f"Bearer {runtime.keys.create(k)[1]}"} for k in KeyKind}
        assert _answer(client, keys, "s4")["personalized"] is True
        silent = _answer(client, keys, "s5")
        assert silent["personalized"] is False and not _personal_reasons(silent)
        listed = _listed(runtime)
        assert runtime.profiles.canonical("s5") not in listed
        assert runtime.profiles.canonical("s4") in listed
        _send(client, keys, _stating({"personalization": True}, "s5", product_id="k2"))
        granted = _answer(client, keys, "s5")
        assert granted["personalized"] is True and _personal_reasons(granted)


@pytest.mark.parametrize("kind", [KeyKind.SECRET, KeyKind.ADMIN])
def test_consent_api_records_choices_with_history(shop: Shop, kind: KeyKind) -> None:
    client, _runtime, keys = shop
    url = "/v1/profiles/s3/consent"
    start = client.get(url, headers=keys[kind.value]).json()
    assert start["purposes"]["personalization"] == {
        "granted": True,
        "stated": False,
        "mode": "opt_out",
    }
    assert start["purposes"]["marketing"]["granted"] is False  # opt-in: silence refuses
    assert start["purposes"]["necessary"]["granted"] is True
    body = {
        "purposes": {"personalization": False, "marketing": True},
        "policy_version": "2026-11",
        "source": "banner",
    }
    put = client.put(url, json=body, headers=keys[kind.value])
    assert put.status_code == 200
    answer = put.json()
    assert answer["purposes"]["personalization"]["granted"] is False
    assert answer["purposes"]["marketing"] == {"granted": True, "stated": True, "mode": "opt_in"}
    history = {
        (h["purpose"], h["granted"], h["policy_version"], h["source"]) for h in answer["history"]
    }
    assert history == {
        ("personalization", False, "2026-11", "banner"),
        ("marketing", True, "2026-11", "banner"),
    }
    assert _answer(client, keys, "s3")["personalized"] is False
    again = client.put(url, json=body, headers=keys[kind.value]).json()
    assert len(again["history"]) == 2  # the same choices again change nothing


def test_consent_api_refuses_bad_requests(shop: Shop) -> None:
    client, _runtime, keys = shop
    url = "/v1/profiles/s3/consent"
    refused = client.put(url, json={"purposes": {"necessary": False}}, headers=keys["secret"])
    assert refused.status_code == 400 and "necessary" in refused.json()["error"]["message"]
    unknown = client.put(url, json={"purposes": {"fun": True}}, headers=keys["secret"])
    assert unknown.status_code == 400
    body = {"purposes": {"personalization": False}}
    assert client.put(url, json=body, headers=keys["write"]).status_code == 403
    missing = client.put(
        f"/v1/profiles/{uuid.uuid4().hex}/consent", json=body, headers=keys["secret"]
    )
    assert missing.status_code == 404


def test_reads_of_personal_data_and_privacy_changes_are_audited(shop: Shop) -> None:
    client, runtime, keys = shop
    secret_id = keys["secret"]["Authorization"].split("_")[2]
    admin_id = keys["admin"]["Authorization"].split("_")[2]
    profile = runtime.profiles.canonical("s6")
    assert client.get("/v1/profiles/s6", headers=keys["secret"]).status_code == 200
    assert client.get("/v1/profiles/s6/events", headers=keys["secret"]).status_code == 200
    body = {"purposes": {"marketing": True}, "source": "account"}
    assert client.put("/v1/profiles/s6/consent", json=body, headers=keys["secret"]).is_success
    rules = "rules:\n  - {name: hide-out-of-stock, type: filter, exclude: {out_of_stock: true}}\n"
    assert client.put("/v1/rules", content=rules, headers=keys["admin"]).is_success
    assert client.get("/v1/profiles/s6", headers=keys["write"]).status_code == 403
    trail = [(e.actor, e.action, e.subject) for e in runtime.audit.entries()]
    assert ("cli", "key.created", secret_id) in trail
    assert trail[-4:] == [
        (f"key:{secret_id}", "profile.read", profile),
        (f"key:{secret_id}", "profile.events_read", profile),
        (f"key:{secret_id}", "consent.changed", profile),
        (f"key:{admin_id}", "rules.changed", "1"),
    ]
    assert runtime.audit.entries(action="consent.changed")[0].details == {
        "choices": {"marketing": True}
    }
    assert runtime.audit.verify().ok
