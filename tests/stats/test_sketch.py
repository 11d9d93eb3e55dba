"""The distinct-count sketch behind a day's visitors and items."""

from __future__ import annotations

import zlib

import pytest

from shopwise.stats import Sketch


@pytest.mark.parametrize("size", [0, 1, 2, 40, 256])
def test_small_sets_are_counted_exactly(size: int) -> None:
    assert Sketch.of(f"p-{i}" for i in range(size)).count() == size


@pytest.mark.parametrize("size", [5_000, 50_000])
def test_large_sets_are_estimated_closely(size: int) -> None:
    estimate = Sketch.of(f"shopper-{i}" for i in range(size)).count()
    assert abs(estimate / size - 1) < 0.05  # about three standard errors of 2**12 registers


def test_small_unions_stay_exact_and_large_ones_switch_to_the_registers() -> None:
    small = Sketch.of(f"v{i}" for i in range(200))
    small.merge(Sketch.of(f"v{i}" for i in range(150, 250)))
    assert small.hashes is not None and small.count() == 250
    small.merge(Sketch.of(f"w{i}" for i in range(100)))
    assert small.hashes is None and abs(small.count() - 350) <= 10


def test_members_added_again_are_counted_once() -> None:
    sketch = Sketch.of(["a", "b", "a", "c", "b"])
    assert sketch.count() == 3


def test_a_merge_is_the_sketch_of_the_union() -> None:
    left = Sketch.of(f"v{i}" for i in range(3000))
    right = Sketch.of(f"v{i}" for i in range(2000, 6000))
    left.merge(right)
    union = Sketch.of(f"v{i}" for i in range(6000))
    assert (left.registers == union.registers).all()


def test_a_sketch_survives_storage_and_refuses_a_wrong_size() -> None:
    for sketch in (Sketch(), Sketch.of(["x", "y"]), Sketch.of(f"z{i}" for i in range(999))):
        stored = Sketch.from_bytes(sketch.to_bytes())
        assert stored.count() == sketch.count() and stored.hashes == sketch.hashes
    with pytest.raises(ValueError, match="registers"):
        Sketch.from_bytes(zlib.compress(bytes(16)))


def test_a_discarded_member_leaves_no_trace_in_a_small_sketch() -> None:
    sketch = Sketch.of(["alice", "bob", "carol"])
    assert sketch.holds("bob") and not sketch.holds("dave")
    assert sketch.discard(["bob", "dave"]) == 1
    assert not sketch.holds("bob") and sketch.count() == 2
    assert (sketch.registers == Sketch.of(["alice", "carol"]).registers).all()
    large = Sketch.of(f"v{i}" for i in range(1000))
    assert large.discard(["v1"]) == 0 and not large.holds("v1")
