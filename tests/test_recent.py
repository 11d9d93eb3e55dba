"""The per-shopper memo: bounded by count and by time unused."""

from __future__ import annotations

import pytest
from tests._clock import Clock

from shopwise.recent import Recent


def test_an_entry_unused_for_its_time_is_gone_and_a_used_one_stays() -> None:
    clock = Clock()
    recent: Recent[str, int] = Recent(100, seconds=10, clock=clock)
    recent.put("used", 1)
    recent.put("idle", 2)
    clock.now = 8
    assert recent.get("used") == 1
    clock.now = 12
    assert recent.get("idle") is None
    assert recent.get("used") == 1


def test_new_entries_drop_those_past_their_time_so_the_size_follows_the_traffic() -> None:
    """At a steady pace the memo holds ``seconds`` of traffic, far below its count bound."""
    clock = Clock()
    recent: Recent[int, int] = Recent(1_000_000, seconds=60, clock=clock)
    for second in range(3600):
        clock.now = float(second)
        recent.put(second, second)
    assert len(recent) == 61
    assert recent.kept()[0] == 3600 - 61


def test_the_count_bound_drops_the_least_recently_used() -> None:
    clock = Clock()
    recent: Recent[str, int] = Recent(2, seconds=60, clock=clock)
    recent.put("a", 1)
    recent.put("b", 2)
    assert recent.get("a") == 1
    recent.put("c", 3)
    assert recent.kept() == ["a", "c"]
    assert recent.get("b") is None


def test_pop_and_clear_forget() -> None:
    recent: Recent[str, int] = Recent(10)
    recent.put("a", 1)
    recent.put("b", 2)
    recent.pop("a")
    recent.pop("missing")
    assert recent.kept() == ["b"]
    recent.clear()
    assert len(recent) == 0 and recent.get("b") is None


@pytest.mark.parametrize(("size", "seconds"), [(0, 1.0), (1, 0.0)])
def test_a_bound_that_holds_nothing_is_refused(size: int, seconds: float) -> None:
    with pytest.raises(ValueError):
        Recent(size, seconds=seconds)
