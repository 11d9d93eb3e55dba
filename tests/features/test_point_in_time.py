"""Point-in-time correctness: rows after the cutoff never change a feature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
from hypothesis import given, settings
from hypothesis import strategies as st

from shopwise.features import REFUNDED, REFUNDED_AT, customer_features, empty_events
from shopwise.features.testing import day, orders_frame, random_frames
from shopwise.schema import Columns


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), cutoff=st.floats(20, 100))
def test_future_rows_never_change_features(seed: int, cutoff: float) -> None:
    rng = np.random.default_rng(seed)
    events, orders = random_frames(rng, profiles=12)
    as_of = day(cutoff)
    before = customer_features(events, orders, as_of)
    # Future: new rows for known and new profiles, and refunds of past orders dated later.
    future_events, future_orders = random_frames(rng, profiles=15, days=60)
    shift = pd.Timedelta(days=cutoff + 0.001)
    future_events[Columns.TIME] += shift
    future_orders[Columns.TIME] += shift
    future_orders[REFUNDED_AT] += shift
    late = orders.copy()
    refundable = (late[Columns.TIME] <= as_of) & ~late[REFUNDED]
    late.loc[refundable, REFUNDED] = True
    late.loc[refundable, REFUNDED_AT] = as_of + pd.Timedelta(days=3)
    after = customer_features(
        pd.concat([events, future_events], ignore_index=True),
        pd.concat([late, future_orders], ignore_index=True),
        as_of,
    )
    pdt.assert_frame_equal(before, after)


def test_features_change_when_past_rows_change(rng: np.random.Generator) -> None:
    events, orders = random_frames(rng, profiles=12)
    as_of = day(100)
    before = customer_features(events, orders, as_of)
    orders = orders.assign(**{Columns.REVENUE: orders[Columns.REVENUE] * 2})
    after = customer_features(events, orders, as_of)
    assert not before["monetary"].equals(after["monetary"])
    assert set(before.index) == set(after.index)


def test_customer_features_population_and_filled_counts() -> None:
    events, orders = random_frames(np.random.default_rng(3), profiles=5)
    frame = customer_features(events, orders, day(200), profiles=["p0", "p1", "nobody"])
    assert list(frame.index) == ["p0", "p1", "nobody"]
    assert frame.loc["nobody", "frequency"] == 0 and frame.loc["nobody", "views"] == 0
    assert np.isnan(frame.loc["nobody", "recency_days"])
    assert frame.select_dtypes("number").shape[1] == frame.shape[1]


def test_empty_frames_give_empty_or_order_only_features() -> None:
    orders = orders_frame([("a", "o1", 1, 10.0, 0.0, None)])
    only_orders = customer_features(empty_events(), orders, day(5))
    assert list(only_orders.index) == ["a"] and only_orders.loc["a", "views"] == 0
    assert only_orders.loc["a", "recency_days"] == 4.0
    nothing = customer_features(empty_events(), orders_frame([]), day(5))
    assert nothing.empty and list(nothing.columns) == list(only_orders.columns)
