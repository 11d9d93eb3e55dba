"""The profile consumer under every batch split of one event log."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from shopwise import store
from shopwise.bus import StoredEvent
from shopwise.runtime import Runtime
from shopwise.settings import Settings


def _at(i: int) -> str:
    return datetime.fromtimestamp(1_770_000_000 + i, UTC).isoformat()


def _view(i: int, anon: str) -> dict[str, Any]:
    return {
        "message_id": f"m{i}",
        "type": "product_viewed",
        "anonymous_id": anon,
        "timestamp": _at(i),
        "properties": {"product_id": "p1"},
    }


def _alias(i: int, user: str, anon: str) -> dict[str, Any]:
    return {
        "message_id": f"m{i}",
        "type": "alias",
        "user_id": user,
        "timestamp": _at(i),
        "properties": {"previous_id": anon},
    }


def _order(i: int, user: str) -> dict[str, Any]:
    return {
        "message_id": f"m{i}",
        "type": "order_completed",
        "user_id": user,
        "timestamp": _at(i),
        "properties": {
            "order_id": f"o{i}",
            "products": [{"product_id": "p1"}],
            "revenue": 9.99,
            "currency": "EUR",
        },
    }


# arrival order of the hypothesis counter-example that lost three events
LOG = [
    _order(10, "u1"),
    _alias(3, "u1", "a3"),
    _alias(1, "u2", "a3"),
    _view(6, "a1"),
    _order(12, "u1"),
    _view(0, "a1"),
    _view(2, "a1"),
    _order(4, "u1"),
    _alias(9, "u1", "a1"),
    _order(8, "u1"),
    _view(7, "a3"),
    _view(11, "a1"),
    _view(5, "a3"),
]


def _stored(runtime: Runtime) -> list[StoredEvent]:
    """Every stored event, oldest first, as the bus hands them to the consumer."""
    columns = [store.events.c[name] for name in StoredEvent.__slots__]
    with runtime.engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).order_by(store.events.c.id))
        return [StoredEvent.from_row(dict(row._mapping)) for row in rows]


@pytest.mark.parametrize("cut", range(1, len(LOG)))
def test_rebuild_never_reads_past_its_batch(tmp_path: Path, cut: int) -> None:
    """Regression: a rebuild that read events of later batches moved the watermark past
    events of an anonymous id linked only later, and those events were skipped."""
    runtime = Runtime.build(Settings(data_dir=tmp_path), migrate=True)
    runtime.writer.start()  # no bus: this test feeds the consumer itself
    try:
        assert runtime.collector.ingest(LOG).accepted == len(LOG)
        stored = _stored(runtime)
        for start, end in itertools.pairwise([0, cut, len(stored)]):
            runtime.profiles.consume(stored[start:end])
        u1, u2 = runtime.profiles.get("u1"), runtime.profiles.get("u2")
        assert u1 is not None and u2 is not None
        assert (u1.state.events, u2.state.events) == (10, 3)
    finally:
        runtime.writer.stop()


def _exposure(i: int, user: str, anon: str) -> dict[str, Any]:
    return {
        "message_id": f"exp{i}",
        "type": "recommendation_viewed",
        "user_id": user,
        "anonymous_id": anon,
        "timestamp": _at(i),
        "properties": {"recommendation_id": f"r{i}", "product_ids": ["p1"], "placement": "home"},
    }


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_exposures_are_kept_but_not_folded_into_profiles(tmp_path: Path, cut: int) -> None:
    """What shopwise showed is logged, but neither counts as behaviour nor links identities,
    whether it arrives alone, with behaviour, or is re-read by a rebuild."""
    runtime = Runtime.build(Settings(data_dir=tmp_path), migrate=True)
    runtime.writer.start()
    log = [
        _view(0, "a1"),
        _exposure(1, "u9", "a1"),
        _alias(2, "u1", "a1"),
        _exposure(3, "u1", "a1"),
    ]
    try:
        assert runtime.collector.ingest(log).accepted == len(log)
        stored = _stored(runtime)
        for start, end in itertools.pairwise([0, cut, len(stored)]):
            runtime.profiles.consume(stored[start:end])
        u1 = runtime.profiles.get("u1")
        assert u1 is not None
        assert (u1.state.events, u1.anonymous_ids) == (2, ["a1"])
        assert "recommendation_viewed" not in u1.state.counts
        assert runtime.profiles.get("u9") is None
        with runtime.engine.connect() as conn:
            kept = conn.execute(
                sa.select(sa.func.count()).where(store.events.c.type == "recommendation_viewed")
            ).scalar_one()
        assert kept == 2
    finally:
        runtime.writer.stop()


def _identified_view(i: int, user: str, anon: str) -> dict[str, Any]:
    return {**_view(i, anon), "user_id": user}


# a browser identified again and again (one link per event), then claimed by an earlier alias
RELINKED = [
    *(_identified_view(i, "u1", "a1") for i in range(20, 26)),
    _view(1, "a2"),
    *(_identified_view(i, "u2", "a2") for i in range(30, 33)),
    _alias(15, "u2", "a1"),
    _identified_view(40, "u1", "a1"),
    _order(41, "u1"),
]


def _graph(runtime: Runtime) -> list[tuple[Any, ...]]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                store.identities.c.id_key,
                store.identities.c.profile_id,
                store.identities.c.link_user,
                store.identities.c.link_ts,
            ).order_by(store.identities.c.id_key)
        )
        return [tuple(row) for row in rows]


@pytest.mark.parametrize("size", [1, 4, len(RELINKED)])
def test_a_batchs_repeated_links_fold_as_one_event_at_a_time(tmp_path: Path, size: int) -> None:
    """A batch applies only each anonymous id's best link: the identities and profiles are
    those of folding the events one at a time."""
    graphs, counts = [], []
    for run, step in enumerate((1, size)):
        runtime = Runtime.build(Settings(data_dir=tmp_path / str(run)), migrate=True)
        runtime.writer.start()
        try:
            assert runtime.collector.ingest(RELINKED).accepted == len(RELINKED)
            stored = _stored(runtime)
            for start in range(0, len(stored), step):
                runtime.profiles.consume(stored[start : start + step])
            graphs.append(_graph(runtime))
            views = [runtime.profiles.get(user) for user in ("u1", "u2")]
            counts.append([(v.state.events, v.anonymous_ids) for v in views if v is not None])
        finally:
            runtime.writer.stop()
    assert graphs[0] == graphs[1]
    assert counts[0] == counts[1] == [(8, []), (5, ["a1", "a2"])]
