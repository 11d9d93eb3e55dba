from __future__ import annotations

import pandas as pd
import pytest

from shopwise.features import (
    REFUNDED,
    FrameSchemaError,
    check_events,
    check_orders,
    cut,
    empty_events,
    window,
)
from shopwise.features.testing import day, events_frame, orders_frame
from shopwise.schema import Columns

AS_OF = day(60)


def test_check_rejects_missing_columns_and_naive_time() -> None:
    events = events_frame([("a", "product_viewed", 1, "s", "i", 1.0, "c")])
    with pytest.raises(FrameSchemaError, match="lacks columns"):
        check_events(events.drop(columns=[Columns.SESSION]))
    naive = events.assign(**{Columns.TIME: events[Columns.TIME].dt.tz_localize(None)})
    with pytest.raises(FrameSchemaError, match="tz-aware"):
        check_events(naive)
    check_events(empty_events())


def test_cut_rewinds_refunds_dated_after_the_cutoff() -> None:
    orders = orders_frame(
        [
            ("a", "o1", 10, 50.0, 0.0, 20),
            ("a", "o2", 30, 20.0, 0.0, 70),
            ("a", "o3", 65, 9.0, 0, None),
        ]
    )
    known = cut(orders, AS_OF)
    assert list(known[Columns.ORDER]) == ["o1", "o2"]
    assert list(known[REFUNDED]) == [True, False]
    check_orders(known)


def test_window_is_half_open_after_start() -> None:
    orders = orders_frame(
        [
            ("a", "o1", 60, 1.0, 0, None),
            ("a", "o2", 61, 1.0, 0, None),
            ("a", "o3", 67, 1.0, 0, None),
            ("a", "o4", 67.5, 1.0, 0, None),
        ]
    )
    assert list(window(orders, day(60), 7)[Columns.ORDER]) == ["o2", "o3"]


def test_cut_accepts_naive_and_string_cutoffs_as_utc() -> None:
    events = events_frame([("a", "page_viewed", 1, "s", None, None, None)])
    assert len(cut(events, "2025-01-02")) == 1
    assert len(cut(events, pd.Timestamp("2025-01-01 12:00"))) == 0
