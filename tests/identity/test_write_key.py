"""Identity verification: a public write key never reveals or takes over a shopper (issue 22).

Regression: with the write key every browser holds, ``POST /v1/identify {"user_id": "<a
customer>", "anonymous_id": "<mine>"}`` linked the caller's browser to the customer, after which
``/v1/decide`` and ``/v1/recommendations`` answered with the customer's personalization and reason
codes such as ``purchase_7d>=0.8`` and ``cart_abandoned``; the same identify overwrote the
customer's email trait, and ``/v1/alias`` re-parented another customer's browser.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.serving.conftest import event, journeys, product_rows

from shopwise.api import create_app
from shopwise.auth import KeyKind
from shopwise.bus import StoredEvent
from shopwise.collect import CLAIMED, IDENTITY, UNVERIFIED_USER, VERIFIED
from shopwise.collect.tracking_api import SegmentTranslator
from shopwise.decide import PUBLIC_REASONS
from shopwise.profiles import ProfileState, identity_secret, user_hash
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.worker import train_recommenders

Keys = dict[str, dict[str, str]]
Shop = tuple[TestClient, Runtime, Keys]
VICTIM, VICTIM_ANON, MALLORY = "cust-1", "victim-anon", "mallory"
REC, DECIDE = "/v1/recommendations", "/v1/decide"


def _shop(tmp_path: Path, **overrides: Any) -> Iterator[Shop]:
    settings = Settings(data_dir=tmp_path / "var", log_level="WARNING", **overrides)
    runtime = Runtime.build(settings, migrate=True)
    with TestClient(create_app(settings, runtime)) as client:
        runtime.catalog.upsert(product_rows())
        result = runtime.collector.ingest(journeys())
        assert not result.rejected
        assert runtime.bus.wait_until_consumed(result.last_event_id, timeout=60)
        train_recommenders(runtime, "transition", lambda _m: None)
        keys = {
            kind.value: {"Authorization": f"Bearer {runtime.keys.create(kind)[1]}"}
            for kind in KeyKind
        }
        yield client, runtime, keys


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    yield from _shop(tmp_path)


@pytest.fixture
def strict_shop(tmp_path: Path) -> Iterator[Shop]:
    yield from _shop(tmp_path, identity_verification="required")


def _hash(runtime: Runtime, user_id: str) -> str:
    """What the shop's backend computes (README: Identity verification)."""
    return user_hash(
        identity_secret(runtime.settings.secret_key.get_secret_value().encode()), user_id
    )


def _settle(runtime: Runtime) -> None:
    """Wait until everything stored so far is folded into profiles."""
    marker = event("page_viewed", "settler", datetime.now(UTC))
    assert runtime.bus.wait_until_consumed(runtime.collector.ingest([marker]).last_event_id, 30)


def _victim(client: TestClient, runtime: Runtime, keys: Keys) -> str:
    """A customer identified by the shop's backend (secret key) who browsed toys; their profile."""
    done = client.post(
        "/v1/identify",
        json={
            "user_id": VICTIM,
            "anonymous_id": VICTIM_ANON,
            "traits": {"email": "customer@example.com", "plan": "gold"},
            "timestamp": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        },
        headers=keys["secret"],
    )
    assert done.status_code == 200, done.text
    now = datetime.now(UTC)
    views = []
    for step, product in enumerate(("t0", "t1", "t2")):
        row = event("product_viewed", VICTIM_ANON, now - timedelta(minutes=5 - step))
        row.update(user_id=VICTIM, properties={"product_id": product})
        views.append(row)
    cart = event("product_added", VICTIM_ANON, now - timedelta(hours=3), product_id="t2")
    cart.update(user_id=VICTIM, context={"consent": {"purposes": {"marketing": True}}})
    posted = client.post("/v1/events", json={"batch": [*views, cart]}, headers=keys["secret"])
    assert posted.json()["accepted"] == 4
    _settle(runtime)
    profile = runtime.profiles.canonical(VICTIM)
    assert profile is not None
    # the customer scores high, as the customer models would say of them (and only of them)
    runtime.score_provider = lambda any_id: (
        {"purchase_7d": 0.91} if runtime.profiles.canonical(any_id) == profile else {}
    )
    return profile


def _items(body: dict[str, Any]) -> list[str]:
    return [item["product_id"] for item in body["items"]]


def _reasons(body: dict[str, Any]) -> set[str]:
    found = {r for item in body["items"] for r in item["reasons"]}
    for block in (body.get("banner"), body.get("message")):
        if block is not None:
            found |= set(block["reasons"])
    return found


def _get(client: TestClient, url: str, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get(url, params={"placement": "home", "n": 5, **params}, headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _basic(auth: dict[str, str]) -> dict[str, str]:
    key = auth["Authorization"].removeprefix("Bearer ")
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def _take_over(client: TestClient, keys: Keys) -> None:
    """Everything a write key holder tries, by every write route, to become the customer."""
    write = keys["write"]
    earlier = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    claims = [
        client.post(
            "/v1/identify",
            json={"user_id": VICTIM, "anonymous_id": MALLORY, "traits": {"email": "evil@x.com"}},
            headers=write,
        ),
        client.post(
            "/v1/identify",
            json={"user_id": VICTIM, "anonymous_id": MALLORY, "user_hash": "0" * 64},
            headers=write,
        ),
        # an earlier link of the customer's own browser to the attacker's user id
        client.post(
            "/v1/alias",
            json={"previous_id": VICTIM_ANON, "user_id": "mallory-user", "timestamp": earlier},
            headers=write,
        ),
        client.post(
            "/segment/v1/identify",
            json={"userId": VICTIM, "anonymousId": MALLORY, "traits": {"plan": "free"}},
            headers=_basic(write),
        ),
        client.post(
            "/segment/v1/alias",
            json={"previousId": VICTIM_ANON, "userId": "mallory-user", "timestamp": earlier},
            headers=_basic(write),
        ),
    ]
    assert all(r.status_code == 200 for r in claims), [r.text for r in claims]
    forged = event("identify", MALLORY, datetime.now(UTC))
    forged.update(user_id=VICTIM, properties={"traits": {"email": "evil2@x.com"}})
    smuggled = {**forged, "message_id": uuid.uuid4().hex, "context": {IDENTITY: VERIFIED}}
    answer = client.post("/v1/events", json={"batch": [forged, smuggled]}, headers=write).json()
    assert answer["accepted"] == 1
    assert [r["code"] for r in answer["rejected"]] == ["invalid_envelope"]  # no client verdict


def test_a_write_key_neither_reads_nor_changes_another_shopper(shop: Shop) -> None:
    client, runtime, keys = shop
    write, secret = keys["write"], keys["secret"]
    profile = _victim(client, runtime, keys)
    own = _get(client, REC, secret, user_id=VICTIM)
    nobody = _get(client, REC, write, anonymous_id="nobody-" + uuid.uuid4().hex[:6])
    assert _items(own) != _items(nobody)  # the customer's answer is their own

    _take_over(client, keys)
    _settle(runtime)

    # claimed links still stitch, for analytics; the customer's browser stays theirs
    stored = client.get(f"/v1/profiles/{VICTIM}", headers=secret).json()
    assert stored["profile_id"] == profile and MALLORY in stored["anonymous_ids"]
    assert runtime.profiles.canonical(VICTIM_ANON) == profile
    # verified traits are not overwritten by a claim
    assert stored["traits"]["email"]["value"] == "customer@example.com"
    assert stored["traits"]["plan"]["value"] == "gold"
    verdicts = {
        (e["type"], e["context"].get(IDENTITY))
        for e in client.get(f"/v1/profiles/{VICTIM}/events", headers=secret).json()["events"]
    }
    assert ("identify", CLAIMED) in verdicts and ("identify", VERIFIED) in verdicts
    found = runtime.profiles.events_of(VICTIM)
    assert found is not None and "0" * 64 not in repr(found[1])  # a hash is never stored

    # answers to the attacker's browser hold nothing of the customer's
    for url in (REC, DECIDE):
        mine = _get(client, url, write, anonymous_id=MALLORY)
        assert _items(mine) == _items(nobody)
        assert _reasons(mine) <= set(PUBLIC_REASONS)
    decided = _get(client, DECIDE, write, anonymous_id=MALLORY)
    assert decided["banner"]["name"] != "discount-for-likely-buyers"
    assert decided["message"] is None
    # naming the customer needs their hash
    for url in (REC, DECIDE):
        assert (
            client.get(
                url, params={"placement": "home", "user_id": VICTIM}, headers=write
            ).status_code
            == 403
        )
        wrong = {"placement": "home", "user_id": VICTIM, "user_hash": "ab" * 32}
        assert client.get(url, params=wrong, headers=write).status_code == 403
    # product pages take no shopper: naming one changes nothing, reasons stay public
    for relation in ("similar", "complementary"):
        url = f"/v1/products/t1/{relation}"
        plain = client.get(url, headers=write).json()
        named = client.get(url, params={"user_id": VICTIM, "anonymous_id": MALLORY}, headers=write)
        assert _items(named.json()) == _items(plain) and _reasons(plain) <= set(PUBLIC_REASONS)
    # profile routes need a secret key
    for method, url in (
        ("GET", f"/v1/profiles/{VICTIM}"),
        ("GET", f"/v1/profiles/{VICTIM}/events"),
        ("GET", f"/v1/profiles/{VICTIM}/consent"),
        ("PATCH", f"/v1/profiles/{VICTIM}/traits"),
        ("PUT", f"/v1/profiles/{VICTIM}/consent"),
    ):
        body = {"traits": {"email": "evil@x.com"}} if method == "PATCH" else {}
        assert client.request(method, url, json=body, headers=write).status_code == 403


def test_a_valid_user_hash_gives_the_customer_their_answer_through_a_write_key(
    shop: Shop,
) -> None:
    client, runtime, keys = shop
    write, secret = keys["write"], keys["secret"]
    _victim(client, runtime, keys)
    proof = _hash(runtime, VICTIM)
    full = _get(client, DECIDE, secret, user_id=VICTIM)
    hashed = _get(client, DECIDE, write, user_id=VICTIM, user_hash=proof)
    assert _items(hashed) == _items(full)
    assert hashed["banner"]["name"] == full["banner"]["name"] == "discount-for-likely-buyers"
    assert "purchase_7d>=0.8" in full["banner"]["reasons"]
    assert hashed["banner"]["reasons"] == ["rule", "personalized"]  # no score, no threshold
    # the customer's phone, identified with the hash, is verified: its own requests are theirs
    phone = "victim-phone"
    linked = client.post(
        "/v1/identify",
        json={"user_id": VICTIM, "anonymous_id": phone, "user_hash": proof.upper()},
        headers=write,
    )
    assert linked.status_code == 200
    assert _items(_get(client, REC, write, anonymous_id=phone)) == _items(
        _get(client, REC, write, user_id=VICTIM, user_hash=proof)
    )
    # and its verified identify may set traits a claim may not
    client.post(
        "/v1/identify",
        json={"user_id": VICTIM, "user_hash": proof, "traits": {"plan": "platinum"}},
        headers=write,
    )
    traits = client.get(f"/v1/profiles/{VICTIM}", headers=secret).json()["traits"]
    assert traits["plan"]["value"] == "platinum"


def test_required_mode_refuses_unhashed_user_ids_per_event(strict_shop: Shop) -> None:
    client, runtime, keys = strict_shop
    write = keys["write"]
    now = datetime.now(UTC)
    unhashed = {**event("product_viewed", MALLORY, now, product_id="t1"), "user_id": VICTIM}
    wrong = {**unhashed, "message_id": uuid.uuid4().hex, "user_hash": "f" * 64}
    hashed = {**unhashed, "message_id": uuid.uuid4().hex, "user_id": "cust-2"}
    hashed["user_hash"] = _hash(runtime, "cust-2")
    anonymous = event("product_viewed", MALLORY, now, product_id="t2")
    body = client.post(
        "/v1/events", json={"batch": [unhashed, wrong, hashed, anonymous]}, headers=write
    ).json()
    assert body["accepted"] == 2
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [
        (0, UNVERIFIED_USER),
        (1, UNVERIFIED_USER),
    ]
    refused = client.post(
        "/v1/identify", json={"user_id": VICTIM, "anonymous_id": MALLORY}, headers=write
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == UNVERIFIED_USER
    # the secret key's user ids need no hash
    secret_row = {**unhashed, "message_id": uuid.uuid4().hex, "anonymous_id": "server"}
    stored = client.post("/v1/events", json={"batch": [secret_row]}, headers=keys["secret"])
    assert stored.json()["accepted"] == 1
    _settle(runtime)
    assert runtime.profiles.canonical(MALLORY) != runtime.profiles.canonical(VICTIM)
    letters = client.get("/v1/dead-letters", headers=keys["admin"]).json()["dead_letters"]
    assert [letter["code"] for letter in letters].count(UNVERIFIED_USER) == 3


def test_the_segment_translator_takes_the_user_hash_from_any_of_its_places() -> None:
    translator = SegmentTranslator()
    now = datetime.now(UTC)
    base = {"type": "track", "event": "Product Viewed", "userId": "u1", "anonymousId": "a1"}
    for message in (
        {**base, "context": {"user_hash": "h1"}},
        {**base, "integrations": {"shopwise": {"user_hash": "h1"}}},
        {**base, "userHash": "h1"},
    ):
        envelope = translator.translate(message, now)
        assert isinstance(envelope, dict) and envelope["user_hash"] == "h1"
    plain = translator.translate(base, now)
    assert isinstance(plain, dict) and "user_hash" not in plain


def _identify(n: int, verified: bool, ts: int, value: str) -> StoredEvent:
    context = {IDENTITY: VERIFIED if verified else CLAIMED}
    return StoredEvent(
        id=n,
        message_id=f"m{n}",
        type="identify",
        anonymous_id=None,
        user_id="u1",
        timestamp=ts,
        received_at=ts,
        session_id=None,
        product_id=None,
        context=context,
        properties={"traits": {"email": value}, "source": "identify"},
    )


def test_a_verified_trait_outranks_every_claim_in_any_order() -> None:
    writes = [
        _identify(1, True, 100, "verified-old"),
        _identify(2, False, 300, "claimed-newer"),
        _identify(3, True, 200, "verified-new"),
        _identify(4, False, 50, "claimed-old"),
    ]
    for order in permutations(writes):
        state = ProfileState()
        for written in order:
            state.apply(written)
        assert state.traits["email"][0] == "verified-new"
        halves = ProfileState(), ProfileState()
        for i, written in enumerate(order):
            halves[i % 2].apply(written)
        assert halves[0].merge(halves[1]).traits["email"][0] == "verified-new"
