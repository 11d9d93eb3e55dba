"""The serving cache of profiles: hits, ttl, fences against stale reads, write-through."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from tests._clock import Clock

from shopwise.profiles import ProfileCache, ProfileState
from shopwise.profiles._cache import IDLE
from shopwise.runtime import Runtime


def state(viewed: str | None = None, events: int = 1) -> ProfileState:
    return ProfileState(events=events, viewed=[[1, "m", viewed]] if viewed else [])


def test_a_read_is_cached_until_its_ttl_runs_out() -> None:
    clock = Clock()
    cache = ProfileCache(ttl=5.0, clock=clock)
    assert cache.get("anon") == (False, None)
    cache.put("anon", ("p1", state("a")), cache.sequence())
    cache.put("nobody", None, cache.sequence())
    hit, found = cache.get("anon")
    assert hit and found is not None and found[0] == "p1"
    assert cache.get("nobody") == (True, None)  # "no profile" is an answer too
    clock.now = 5.5
    assert cache.get("anon") == (False, None) and cache.get("nobody") == (False, None)


def test_a_re_read_that_changes_nothing_served_keeps_the_cached_object() -> None:
    """After the ttl the id is read again; the same served view keeps the object answers were
    cached for, a different one replaces it."""
    clock = Clock()
    cache = ProfileCache(ttl=5.0, clock=clock)
    first = state("a", events=1)
    cache.put("anon", ("p1", first), cache.sequence())
    clock.now = 5.5
    assert cache.get("anon") == (False, None)
    cache.put("anon", ("p1", state("a", events=7)), cache.sequence())  # counters moved only
    hit, found = cache.get("anon")
    assert hit and found is not None and found[1] is first
    clock.now = 11.0
    newer = state("b")
    cache.put("anon", ("p1", newer), cache.sequence())
    hit, found = cache.get("anon")
    assert hit and found is not None and found[1] is newer


def test_a_read_overtaken_by_a_commit_is_not_cached() -> None:
    cache = ProfileCache()
    read_at = cache.sequence()
    cache.committed([("anon", None, "p1")], {"p1": state("b")}, dirty=(), read_at=cache.sequence())
    cache.put("anon", ("p1", state("a")), read_at)  # read before the commit: stale
    assert cache.get("anon") == (False, None)
    cache.put("anon", ("p1", state("b")), cache.sequence())
    assert cache.get("anon")[0]


def test_a_negative_read_is_not_cached_after_the_id_got_a_profile() -> None:
    cache = ProfileCache()
    read_at = cache.sequence()
    cache.committed(
        [("newcomer", None, "p9")], {"p9": state("a")}, dirty=(), read_at=cache.sequence()
    )
    cache.put("newcomer", None, read_at)
    assert cache.get("newcomer") == (False, None)


def test_commits_write_through_what_serving_reads() -> None:
    cache = ProfileCache()
    first = state("a", events=1)
    cache.put("anon", ("p1", first), cache.sequence())
    cache.committed(
        [("anon", None, "p1")], {"p1": state("a", events=2)}, dirty=(), read_at=cache.sequence()
    )
    assert cache.get("anon")[1] == ("p1", first)  # only a counter moved: same object kept
    viewed = state("b", events=3)
    cache.committed([("anon", None, "p1")], {"p1": viewed}, dirty=(), read_at=cache.sequence())
    assert cache.get("anon")[1] == ("p1", viewed)


def test_merges_and_moved_ids_are_dropped() -> None:
    cache = ProfileCache()
    cache.put("anon", ("p1", state("a")), cache.sequence())
    cache.put("other", ("p2", state("b")), cache.sequence())
    cache.committed(
        [("anon", "user", "p3")], {"p3": state("c")}, dirty=(), read_at=cache.sequence()
    )
    assert cache.get("anon") == (False, None)  # its events now belong to another profile
    cache.committed([("x", None, "p2")], {"p2": state("d")}, dirty=["p2"], read_at=cache.sequence())
    assert cache.get("other") == (False, None)  # p2 was merged or rebuilt


def test_without_write_through_stored_ids_are_read_uncached_while_they_settle() -> None:
    clock = Clock()
    cache = ProfileCache(clock=clock)
    cache.written_through(local=False)
    cache.put("anon", ("p1", state("a")), cache.sequence())
    read_at = cache.sequence()
    cache.stored(["anon"])  # a view stored here; a worker folds it in shortly
    cache.put("anon", ("p1", state("a")), read_at)  # a read begun before: not cached
    assert cache.get("anon") == (False, None)
    clock.now = 1.0
    cache.put("anon", ("p1", state("b")), cache.sequence())  # still settling: not cached
    assert cache.get("anon") == (False, None)
    clock.now = 2.5
    cache.put("anon", ("p1", state("b")), cache.sequence())
    assert cache.get("anon")[0]
    clock.now = 2.5 + cache.ttl + 0.1
    assert cache.get("anon") == (False, None)  # other writers: bounded by the ttl


def test_with_write_through_stored_ids_stay_cached() -> None:
    cache = ProfileCache()
    cache.put("anon", ("p1", state("a")), cache.sequence())
    cache.stored(["anon"])
    assert cache.get("anon")[0]


def test_the_cache_is_bounded() -> None:
    cache = ProfileCache(max_profiles=2)
    for i in range(5):
        cache.put(f"id{i}", (f"p{i}", state()), cache.sequence())
    assert len(cache) == 2
    assert cache.get("id0") == (False, None) and cache.get("id4")[0]
    with pytest.raises(ValueError):
        ProfileCache(max_profiles=0)


def test_entries_past_their_time_go_as_new_ones_come() -> None:
    """Memory follows the shoppers served lately, not the cap: states unused for IDLE seconds,
    ids past their ttl and old fences are dropped at the next write, far below the bound."""
    clock = Clock()
    cache = ProfileCache(max_profiles=1_000, clock=clock)
    cache.written_through(False)  # another process folds: a short ttl, stored ids fenced
    for i in range(50):
        cache.put(f"id{i}", (f"p{i}", state()), cache.sequence())
    cache.stored(["id1"])
    clock.now = IDLE / 2
    assert cache.get("id0") == (False, None)  # the id is past its ttl...
    cache.put("id0", ("p0", state()), cache.sequence())  # ...read again: p0 used now
    clock.now = IDLE + 1
    cache.put("new", ("p-new", state()), cache.sequence())
    assert len(cache) == 2  # p0 (used at IDLE / 2) and p-new
    assert cache.holds(["id0", "new"], []) and not cache.holds(["id2"], ["p2"])
    cache.stored(["new"])  # the fence of id1 goes: a read begun before it is still not cached
    assert cache.put("id1", ("p1", state()), 0) == ("p1", state())
    assert not cache.holds(["id1"], [])


def _view(anon: str, product: str) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4().hex,
        "type": "product_viewed",
        "anonymous_id": anon,
        "timestamp": datetime.now(UTC).isoformat(),
        "properties": {"product_id": product},
    }


def test_current_is_served_from_the_cache_and_kept_current_by_the_consumer(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runtime.collector.ingest([_view("shopper", "k1")])
    assert runtime.bus.wait_until_consumed(result.last_event_id, timeout=30)
    found = runtime.profiles.current("shopper")
    assert found is not None and [e[2] for e in found[1].viewed] == ["k1"]

    def no_store(_params: object) -> object:
        raise AssertionError("the store was read")

    monkeypatch.setattr(runtime.profiles._current, "rows", no_store)
    assert runtime.profiles.current("shopper") == found  # a hit: the same answer
    result = runtime.collector.ingest([_view("shopper", "k2")])
    assert runtime.bus.wait_until_consumed(result.last_event_id, timeout=30)
    again = runtime.profiles.current("shopper")
    assert again is not None and [e[2] for e in again[1].viewed] == ["k2", "k1"]


def test_a_second_id_of_a_cached_profile_is_served_the_cached_object() -> None:
    """The first read of another id of the profile (its anonymous id after its user id) is
    served the object already cached, not its own equal copy: answers cached for the profile
    then match it by identity instead of comparing two states field by field."""
    cache = ProfileCache()
    first = state("a")
    assert cache.put("user", ("p1", first), cache.sequence()) == ("p1", first)
    served = cache.put("anon", ("p1", state("a")), cache.sequence())
    assert served is not None and served[1] is first
    newer = state("b")
    served = cache.put("anon", ("p1", newer), cache.sequence())
    assert served is not None and served[1] is newer


def test_a_commit_begun_before_a_clear_is_not_written_through() -> None:
    cache = ProfileCache()
    read_at = cache.sequence()
    cache.clear()  # an erasure purged this process's memory while the batch was folded
    cache.committed([("anon", None, "p1")], {"p1": state("a")}, dirty=(), read_at=read_at)
    assert len(cache) == 0
    cache.put("anon", ("p1", state("z")), read_at)  # a read begun before that commit
    assert cache.get("anon") == (False, None)
