"""Invariants of the identity graph and the profile fold, under any arrival order (hypothesis)."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopwise.bus import StoredEvent
from shopwise.profiles import ProfileState
from shopwise.runtime import Runtime
from shopwise.settings import Settings

ANONS = ["a1", "a2", "a3"]
USERS = ["u1", "u2"]
BASE = 1_770_000_000_000


@st.composite
def operations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events, identifies and aliases over a small id pool, with distinct times."""
    count = draw(st.integers(min_value=1, max_value=14))
    ops = []
    for i in range(count):
        kind = draw(st.sampled_from(["view", "view", "cart", "order", "identify", "alias", "both"]))
        anon, user = draw(st.sampled_from(ANONS)), draw(st.sampled_from(USERS))
        ts = BASE + i * 1000
        event: dict[str, Any] = {"message_id": f"m{i}", "timestamp": ts}
        product = draw(st.sampled_from(["p1", "p2", "p3"]))
        if kind == "identify":
            event |= {
                "type": "identify",
                "user_id": user,
                "anonymous_id": anon,
                "properties": {"traits": {"plan": draw(st.sampled_from(["a", "b"]))}},
            }
        elif kind == "alias":
            event |= {"type": "alias", "user_id": user, "properties": {"previous_id": anon}}
        elif kind == "order":
            event |= {
                "type": "order_completed",
                "user_id": user,
                "properties": {
                    "order_id": f"o{i}",
                    "products": [{"product_id": product}],
                    "revenue": draw(st.sampled_from([9.99, 20.0, 0.1])),
                    "currency": "EUR",
                },
            }
        else:
            ids = (
                {"anonymous_id": anon}
                if kind != "both"
                else {"anonymous_id": anon, "user_id": user}
            )
            event |= {
                "type": "product_added" if kind == "cart" else "product_viewed",
                "properties": {"product_id": product, "category": f"c-{product}"},
                **ids,
            }
        ops.append(event)
    return ops


def _envelope(op: dict[str, Any]) -> dict[str, Any]:
    from datetime import UTC, datetime

    event = dict(op)
    event["timestamp"] = datetime.fromtimestamp(op["timestamp"] / 1000, UTC).isoformat()
    return event


def _replay(ops: list[dict[str, Any]], order: list[int], cuts: list[int]) -> dict[str, Any]:
    """Ingest ``ops`` in ``order``, split into batches at ``cuts``; return graph and profiles."""
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime.build(Settings(data_dir=Path(tmp)), migrate=True)
        runtime.start()
        try:
            ordered = [_envelope(ops[i]) for i in order]
            bounds = [0, *sorted(set(cuts)), len(ordered)]
            last = 0
            for start, end in itertools.pairwise(bounds):
                if start < end:
                    result = runtime.collector.ingest(ordered[start:end])
                    assert not result.rejected, result.rejected
                    last = max(last, result.last_event_id)
            assert runtime.bus.wait_until_consumed(last, timeout=120)
            return _snapshot(runtime)
        finally:
            runtime.stop()


def _comparable(state: ProfileState) -> dict[str, Any]:
    data = state.to_json()
    # event ids depend on arrival order; session ids on when late events arrive
    for name in ("watermark", "sessions"):
        data.pop(name)
    return data


def _snapshot(runtime: Runtime) -> dict[str, Any]:
    graph, states = {}, {}
    for any_id in ANONS + USERS:
        view = runtime.profiles.get(any_id)
        if view is None:
            continue
        graph[any_id] = (view.profile_id, view.user_ids, view.anonymous_ids)
        states[view.profile_id] = _comparable(view.state)
    return {"graph": graph, "profiles": states}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations(), data=st.data())
def test_any_arrival_order_gives_the_same_graph_and_profiles(
    ops: list[dict[str, Any]], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(ops))))
    cuts = data.draw(st.lists(st.integers(0, len(ops)), max_size=3))
    in_order = _replay(ops, list(range(len(ops))), [])
    shuffled = _replay(ops, list(order), cuts)
    assert shuffled == in_order
    # merging never loses an event: every event counts in exactly one canonical profile
    assert sum(p["events"] for p in in_order["profiles"].values()) == len(ops)
    # a profile read by any linked id returns the same canonical profile
    for profile_id, users, anons in in_order["graph"].values():
        for linked in users + anons:
            assert in_order["graph"][linked][0] == profile_id


@settings(max_examples=60, deadline=None)
@given(ops=operations(), split=st.integers(0, 14))
def test_merge_of_folds_equals_fold_of_all(ops: list[dict[str, Any]], split: int) -> None:
    events = [
        StoredEvent(
            id=i + 1,
            message_id=op["message_id"],
            type=op["type"],
            anonymous_id=op.get("anonymous_id"),
            user_id=op.get("user_id"),
            session_id=None,
            timestamp=op["timestamp"],
            received_at=0,
            product_id=op["properties"].get("product_id"),
            context={},
            properties=op["properties"],
        )
        for i, op in enumerate(ops)
    ]
    whole, left, right = ProfileState(), ProfileState(), ProfileState()
    for event in events:
        whole.apply(event)
    for event in events[:split]:
        left.apply(event)
    for event in reversed(events[split:]):
        right.apply(event)
    assert left.merge(right).to_json() == whole.to_json()
    assert right.merge(left).to_json() == whole.to_json()
