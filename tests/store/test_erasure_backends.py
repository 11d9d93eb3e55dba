"""Export, erasure, suppression and consent history on every store backend."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shopwise.runtime import Runtime
from shopwise.settings import Settings

START = datetime(2026, 3, 1, tzinfo=UTC)


def _event(kind: str, minutes: int, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4().hex,
        "type": kind,
        "timestamp": (START + timedelta(minutes=minutes)).isoformat(),
        **fields,
    }


def _person(anon: str, user: str) -> list[dict[str, Any]]:
    consent = {"consent": {"purposes": {"marketing": True}, "source": "banner"}}
    return [
        _event("product_viewed", 0, anonymous_id=anon, properties={"product_id": "p1"}),
        _event("consent_updated", 1, anonymous_id=anon, context=consent, properties={}),
        _event(
            "identify",
            2,
            anonymous_id=anon,
            user_id=user,
            properties={"traits": {"email": f"{user}@example.com"}},
        ),
        _event("product_added", 3, user_id=user, properties={"product_id": "p2"}),
    ]


def test_a_person_is_exported_then_erased_and_stays_erased(backend_settings: Settings) -> None:
    runtime = Runtime.build(backend_settings, migrate=True)
    runtime.start()
    try:
        batch = _person("a-gone", "u-gone") + _person("a-kept", "u-kept")
        batch.append({"message_id": "bad", "type": "nope", "anonymous_id": "a-gone"})
        result = runtime.collector.ingest(batch)
        assert result.accepted == 8 and len(result.rejected) == 1
        assert runtime.bus.wait_until_consumed(result.last_event_id, timeout=30)
        document = runtime.rights.export("a-gone", "test")
        assert document["identities"]["user_ids"] == ["u-gone"]
        assert len(document["events"]) == 4
        assert [h["purpose"] for h in document["consent_history"]] == ["marketing"]
        assert document["profile"]["traits"]["email"]["value"] == "u-gone@example.com"

        request = runtime.rights.request_erasure("u-gone", "test")
        assert request["status"] == "pending"
        [finished] = runtime.rights.run_pending()
        assert finished["status"] == "verified", finished["details"]
        removed = finished["details"]["removed"]
        assert removed["events"] == 4 and removed["dead_letters"] == 1
        assert removed["consent_changes"] == 1 and removed["suppressed_ids"] == 2
        searched = finished["details"]["verification"]["searched"]
        assert {"events", "profiles.state", "dead_letters.raw", "profile cache"} <= set(searched)
        assert runtime.profiles.canonical("u-gone") is None
        assert runtime.profiles.canonical("a-gone") is None
        assert runtime.profiles.get("u-kept") is not None

        again = runtime.collector.ingest(
            [
                _event("page_viewed", 9, anonymous_id="a-gone"),
                _event("page_viewed", 9, user_id="u-gone"),
            ]
        )
        assert (again.accepted, again.suppressed) == (0, 2)
        kept = runtime.collector.ingest([_event("page_viewed", 9, anonymous_id="a-kept")])
        assert (kept.accepted, kept.suppressed) == (1, 0)
        assert runtime.rights.request(finished["request_id"])["status"] == "verified"  # type: ignore[index]
    finally:
        runtime.stop()
