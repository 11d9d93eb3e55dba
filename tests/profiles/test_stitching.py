"""Real-time stitching through the API: the first read after login shows the anonymous history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from shopwise.profiles import Profiles
from shopwise.runtime import Runtime


def _event(event_type: str, anon: str, minutes: int, **props: object) -> dict[str, object]:
    return {
        "message_id": uuid.uuid4().hex,
        "type": event_type,
        "anonymous_id": anon,
        "timestamp": (
            datetime(2026, 3, 1, 12, tzinfo=UTC) + timedelta(minutes=minutes)
        ).isoformat(),
        "properties": props,
        "context": {"consent": {"purposes": {"personalization": True}}},
    }


def _runtime(client: TestClient) -> Runtime:
    rt: Runtime = client.app.runtime  # type: ignore[attr-defined]
    return rt


def test_anonymous_history_shows_right_after_identify(
    client: TestClient, write_auth: dict[str, str], secret_auth: dict[str, str]
) -> None:
    anon = "anon-" + uuid.uuid4().hex[:6]
    batch = [
        _event("product_viewed", anon, 0, product_id="p1", category="Home > Knives"),
        _event("product_viewed", anon, 1, product_id="p2", category="Home > Knives"),
        _event("product_added", anon, 2, product_id="p2", category="Home > Knives"),
    ]
    assert (
        client.post("/v1/events", json={"batch": batch}, headers=write_auth).json()["accepted"] == 3
    )
    response = client.post(
        "/v1/identify",
        json={"user_id": "alice", "anonymous_id": anon, "traits": {"email": "a@example.com"}},
        headers=write_auth,
    )
    assert response.status_code == 200, response.text
    profile_id = response.json()["profile_id"]
    # no sleep: the identify call returns once the profile is stitched
    profile = client.get("/v1/profiles/alice", headers=secret_auth).json()
    assert profile["profile_id"] == profile_id
    assert profile["anonymous_ids"] == [anon] and profile["user_ids"] == ["alice"]
    assert profile["recently_viewed"] == ["p2", "p1"]
    assert profile["recently_carted"] == ["p2"]
    assert profile["counters"]["views"] == 2
    assert profile["traits"]["email"] == {
        "value": "a@example.com",
        "source": "identify",
        "updated_at": profile["traits"]["email"]["updated_at"],
        "pii": True,
    }
    assert profile["category_affinity"] == {"Home > Knives": 1.0}
    assert profile["consent"]["personalization"]["granted"] is True
    # the same canonical profile by every linked id
    for any_id in (anon, profile_id):
        assert client.get(f"/v1/profiles/{any_id}", headers=secret_auth).json()["profile_id"] == (
            profile_id
        )
    events = client.get("/v1/profiles/alice/events", headers=secret_auth).json()
    assert [e["type"] for e in events["events"]] == [
        "product_viewed",
        "product_viewed",
        "product_added",
        "identify",
    ]


def test_alias_and_trait_patch(
    client: TestClient, write_auth: dict[str, str], secret_auth: dict[str, str]
) -> None:
    client.post(
        "/v1/events",
        json={"batch": [_event("product_viewed", "anon-b", 0, product_id="p9")]},
        headers=write_auth,
    )
    body = client.post(
        "/v1/alias", json={"previous_id": "anon-b", "user_id": "bob"}, headers=write_auth
    ).json()
    assert (
        client.get("/v1/profiles/anon-b", headers=secret_auth).json()["profile_id"]
        == (body["profile_id"])
    )
    patched = client.patch(
        "/v1/profiles/bob/traits",
        json={"traits": {"plan": "gold", "birthday": "1990-02-03"}},
        headers=secret_auth,
    )
    assert patched.status_code == 200
    traits = patched.json()["traits"]
    assert traits["plan"]["value"] == "gold" and traits["plan"]["source"] == "api"
    assert traits["birthday"]["pii"] is True
    bad = client.patch(
        "/v1/profiles/bob/traits", json={"traits": {"birthday": "yesterday"}}, headers=secret_auth
    )
    assert bad.status_code == 400 and "traits.birthday" in bad.json()["error"]["message"]


def test_profile_reads_need_a_secret_key(client: TestClient, write_auth: dict[str, str]) -> None:
    assert client.get("/v1/profiles/anyone", headers=write_auth).status_code == 403


def test_unknown_profile_is_404(client: TestClient, secret_auth: dict[str, str]) -> None:
    response = client.get("/v1/profiles/nobody", headers=secret_auth)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_two_known_users_are_never_merged(
    client: TestClient, write_auth: dict[str, str], secret_auth: dict[str, str]
) -> None:
    """A shared device: one anonymous id seen with two accounts joins only the earlier link."""
    early = datetime(2026, 3, 1, tzinfo=UTC)
    for user, when in (("carol", early + timedelta(hours=1)), ("dave", early)):
        client.post(
            "/v1/identify",
            json={"user_id": user, "anonymous_id": "shared", "timestamp": when.isoformat()},
            headers=write_auth,
        )
    carol = client.get("/v1/profiles/carol", headers=secret_auth).json()
    dave = client.get("/v1/profiles/dave", headers=secret_auth).json()
    assert carol["profile_id"] != dave["profile_id"]
    assert dave["anonymous_ids"] == ["shared"] and carol["anonymous_ids"] == []
    profiles: Profiles = _runtime(client).profiles
    assert profiles.canonical("shared") == dave["profile_id"]
