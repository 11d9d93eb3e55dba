"""Builders of small events and orders frames for tests of this stage and of its users.

Tests spell frames as short tuples and get frames that pass the declared schema, so a test of a
feature, a label or a model reads like its hand-computed answer. :func:`random_frames` makes valid
random histories for invariants such as point-in-time correctness.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd

from shopwise.features._frames import REFUNDED, REFUNDED_AT
from shopwise.schema import Columns, EventType

T0: Final = pd.Timestamp("2025-01-01", tz="UTC")
"""Day 0 of the synthetic calendars."""

EventRow = tuple[str, str, float, str, str | None, float | None, str | None]
OrderRow = tuple[str, str, float, float, float, float | None]


def day(offset: float) -> pd.Timestamp:
    """The moment ``offset`` days after :data:`T0`."""
    return T0 + pd.Timedelta(days=offset)


def events_frame(rows: Sequence[EventRow]) -> pd.DataFrame:
    """Events frame from ``(profile, type, day, session, item, price, category)`` rows."""
    return pd.DataFrame(
        {
            Columns.PROFILE: pd.Series([r[0] for r in rows], dtype=object),
            Columns.TYPE: pd.Series([str(r[1]) for r in rows], dtype=object),
            Columns.TIME: pd.to_datetime([day(r[2]) for r in rows], utc=True),
            Columns.SESSION: pd.Series([r[3] for r in rows], dtype=object),
            Columns.ITEM: pd.Series([r[4] for r in rows], dtype=object),
            Columns.PRICE: pd.Series([r[5] for r in rows], dtype=float),
            Columns.CATEGORY: pd.Series([r[6] for r in rows], dtype=object),
            Columns.BRAND: pd.Series([None for _ in rows], dtype=object),
        }
    )


def orders_frame(rows: Sequence[OrderRow]) -> pd.DataFrame:
    """Orders frame from ``(profile, order, day, revenue, discount, refund day or None)`` rows."""
    refund = pd.Series([day(r[5]) if r[5] is not None else pd.NaT for r in rows], dtype=object)
    return pd.DataFrame(
        {
            Columns.PROFILE: pd.Series([r[0] for r in rows], dtype=object),
            Columns.ORDER: pd.Series([r[1] for r in rows], dtype=object),
            Columns.TIME: pd.to_datetime([day(r[2]) for r in rows], utc=True),
            Columns.REVENUE: pd.Series([r[3] for r in rows], dtype=float),
            Columns.DISCOUNT: pd.Series([r[4] for r in rows], dtype=float),
            REFUNDED: pd.Series([r[5] is not None for r in rows], dtype=bool),
            REFUNDED_AT: pd.to_datetime(refund, utc=True).astype("datetime64[ns, UTC]"),
        }
    )


_TYPES: Final = (
    EventType.PRODUCT_VIEWED,
    EventType.PRODUCTS_SEARCHED,
    EventType.PRODUCT_ADDED,
    EventType.CHECKOUT_STARTED,
    EventType.ORDER_COMPLETED,
    EventType.PAGE_VIEWED,
    EventType.EMAIL_SENT,
    EventType.EMAIL_OPENED,
    EventType.EMAIL_CLICKED,
)


def random_frames(
    rng: np.random.Generator, profiles: int, *, days: float = 120.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random valid ``(events, orders)`` over ``days``: sessions of events, some refunded orders."""
    events: list[EventRow] = []
    orders: list[OrderRow] = []
    for p in range(profiles):
        for s in range(int(rng.integers(1, 6))):
            start = float(rng.uniform(0, days))
            for e in range(int(rng.integers(1, 8))):
                kind = str(_TYPES[int(rng.integers(len(_TYPES)))])
                price = round(float(rng.uniform(5, 100)), 2)
                item = f"i{int(rng.integers(20))}"
                category = f"c{int(rng.integers(4))}"
                at = start + e / 1440
                events.append((f"p{p}", kind, at, f"s{p}-{s}", item, price, category))
                if kind == EventType.ORDER_COMPLETED:
                    refund = at + float(rng.uniform(1, 30)) if rng.random() < 0.2 else None
                    discount = round(float(rng.uniform(1, 10)), 2) if rng.random() < 0.3 else 0.0
                    orders.append((f"p{p}", f"o{p}-{s}-{e}", at, price, discount, refund))
    return events_frame(events), orders_frame(orders)
