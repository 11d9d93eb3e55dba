"""The online session state: recent events kept for active shoppers only, consent kept longer."""

from __future__ import annotations

from typing import Any

from tests._clock import Clock

from shopwise.bus import StoredEvent
from shopwise.serving import OnlineState


def _event(number: int, anon: str, product: str, **context: Any) -> StoredEvent:
    return StoredEvent(
        id=number,
        message_id=f"m{number}",
        type="product_viewed",
        anonymous_id=anon,
        user_id=None,
        session_id=None,
        timestamp=number,
        received_at=number,
        product_id=product,
        context=context,
        properties={"product_id": product},
    )


def test_an_idle_shoppers_recent_events_go_as_new_ones_come_and_consent_stays() -> None:
    clock = Clock()
    online = OnlineState(idle_seconds=60.0, clock=clock)
    refusal = {"consent": {"purposes": {"personalization": False}}}
    first = [_event(1, "idle", "a", **refusal), _event(2, "active", "b")]
    online.record(first)
    online.note_consent(first)
    clock.now = 50.0
    online.record([_event(3, "active", "c")])
    clock.now = 100.0  # "idle" last sent at 0, "active" at 50
    online.record([_event(4, "new", "d")])
    assert online.recent("idle", None) == []
    assert [item[2] for item in online.recent("active", None)] == ["b", "c"]
    assert online.recent("new", None) == [(4, "product_viewed", "d")]
    assert online.consent("idle", None)["personalization"][0] is False
