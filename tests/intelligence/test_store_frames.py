"""Events and orders frames read from the store: canonical profiles, consent, orders, refunds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from shopwise.features import REFUNDED, REFUNDED_AT, check_events, check_orders, cut, store_frames
from shopwise.runtime import Runtime
from shopwise.schema import Columns, EventType, Purpose

START = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _event(
    kind: str, minutes: float, consent: dict[str, bool] | None = None, **ids: Any
) -> dict[str, Any]:
    props = ids.pop("properties", {})
    event = {
        "message_id": uuid.uuid4().hex,
        "type": kind,
        "timestamp": (START + timedelta(minutes=minutes)).isoformat(),
        "properties": props,
        **ids,
    }
    if consent is not None:
        event["context"] = {"consent": {"purposes": consent}}
    return event


def _order(order_id: str, revenue: float, discount: float = 0.0) -> dict[str, Any]:
    lines = [{"product_id": "p1", "price": revenue, "category": "Home > Kitchen", "brand": "Acme"}]
    return {
        "order_id": order_id,
        "revenue": revenue,
        "discount": discount,
        "currency": "EUR",
        "products": lines,
    }


def _ingest(runtime: Runtime, events: list[dict[str, Any]]) -> None:
    result = runtime.collector.ingest(events)
    assert not result.rejected, result.rejected
    assert runtime.bus.wait_until_consumed(result.last_event_id, timeout=30)


def test_events_of_linked_ids_land_on_one_canonical_profile(runtime: Runtime) -> None:
    _ingest(
        runtime,
        [
            _event("product_viewed", 0, anonymous_id="a1", properties={"product_id": "p1"}),
            _event("identify", 1, anonymous_id="a1", user_id="u1"),
            _event("order_completed", 2, user_id="u1", properties=_order("o1", 40.0, discount=5.0)),
            _event("order_refunded", 60 * 24 * 3, user_id="u1", properties={"order_id": "o1"}),
            _event("product_viewed", 3, anonymous_id="a2", properties={"product_id": "p2"}),
        ],
    )
    frames = store_frames(runtime.engine, runtime.consent)
    check_events(frames.events)
    check_orders(frames.orders)
    profile = runtime.profiles.canonical("u1")
    mine = frames.events.loc[frames.events[Columns.PROFILE] == profile]
    assert len(mine) == 4  # view, identify, one order line, refund
    line = mine.loc[mine[Columns.TYPE] == EventType.ORDER_COMPLETED].iloc[0]
    assert line[Columns.ITEM] == "p1" and line[Columns.CATEGORY] == "Home > Kitchen"
    order = frames.orders.set_index(Columns.ORDER).loc["o1"]
    assert order[Columns.PROFILE] == profile
    assert order[Columns.REVENUE] == 40.0 and order[Columns.DISCOUNT] == 5.0
    assert bool(order[REFUNDED]) and order[REFUNDED_AT] == pd.Timestamp(START + timedelta(days=3))
    # a refund three days later is not known the day after the order
    assert not cut(frames.orders, START + timedelta(days=1))[REFUNDED].any()
    assert runtime.profiles.canonical("a2") in set(frames.events[Columns.PROFILE])


@pytest.mark.parametrize("purpose", [Purpose.ANALYTICS, Purpose.MARKETING])
def test_refusals_leave_events_and_profiles_out(runtime: Runtime, purpose: Purpose) -> None:
    refuse, allow = {purpose.value: False}, {purpose.value: True}
    _ingest(
        runtime,
        [
            # u1 refused earlier but allows now: only the refused event is left out
            _event("page_viewed", 0, refuse, user_id="u1"),
            _event("page_viewed", 1, allow, user_id="u1"),
            # u2's latest choice is a refusal: every event of the profile is left out
            _event("page_viewed", 0, allow, user_id="u2"),
            _event("page_viewed", 1, refuse, user_id="u2"),
            _event("page_viewed", 2, None, user_id="u3"),
        ],
    )
    frames = store_frames(runtime.engine, runtime.consent, purpose)
    counts = frames.events[Columns.PROFILE].value_counts()
    canonical = {user: runtime.profiles.canonical(user) for user in ("u1", "u2", "u3")}
    assert counts.get(canonical["u1"]) == 1
    assert canonical["u2"] not in counts
    # u3 said nothing: the purpose's mode decides (analytics opt-out, marketing opt-in)
    silence_allows = runtime.consent.allows({}, purpose)
    assert (canonical["u3"] in counts) is silence_allows
    assert frames.excluded_events == (3 if silence_allows else 4)
    other = Purpose.PERSONALIZATION
    assert store_frames(runtime.engine, runtime.consent, other).excluded_events == 0


def test_an_empty_store_gives_empty_frames_with_the_declared_columns(runtime: Runtime) -> None:
    frames = store_frames(runtime.engine, runtime.consent)
    check_events(frames.events)
    check_orders(frames.orders)
    assert frames.events.empty and frames.orders.empty and frames.latest is None


def test_a_text_repeated_across_events_is_one_object_in_the_frame(runtime: Runtime) -> None:
    """Sessions, products, categories and brands repeat across events: the frame holds each
    distinct text once, so its memory follows the distinct values, not the events."""
    viewed = {"product_id": "p1", "category": "Home > Kitchen", "brand": "Acme"}
    _ingest(
        runtime,
        [
            _event("product_viewed", minutes, anonymous_id="a1", properties=dict(viewed))
            for minutes in range(4)
        ],
    )
    events = store_frames(runtime.engine, runtime.consent).events
    assert len(events) == 4
    for name in (Columns.SESSION, Columns.ITEM, Columns.CATEGORY, Columns.BRAND):
        values = list(events[name])
        assert isinstance(values[0], str) and values[0] == viewed.get(name, values[0])
        assert all(value is values[0] for value in values), name
