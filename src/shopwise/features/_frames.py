"""The input frames of the customer-intelligence stage and the point-in-time cutoff.

Features, labels and customer models never read the store directly: they read two pandas frames, an
events frame (one row per behavioural event) and an orders frame (one row per order), whose columns
are named by :class:`shopwise.schema.Columns` plus the two refund columns declared here. The store,
the dataset adapters and the tests all build these frames, so training and serving compute features
with the same code. :func:`cut` is the single place where a frame is restricted to what was known at
an ``as_of`` moment, which is what makes every feature point-in-time correct.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

import pandas as pd

from shopwise.errors import InvalidInput
from shopwise.schema import Columns

REFUNDED: Final = "refunded"
"""Orders-frame column: ``True`` when the order was refunded (fully or partly)."""

REFUNDED_AT: Final = "refunded_at"
"""Optional orders-frame column: when the refund happened (tz-aware UTC). Without it a refund is
treated as known at order time, which leaks the future; adapters should fill it."""

EVENT_COLUMNS: Final[Mapping[str, str]] = {
    Columns.PROFILE: "object",
    Columns.TYPE: "object",
    Columns.TIME: "datetime64[UTC]",
    Columns.SESSION: "object",
    Columns.ITEM: "object (nullable)",
    Columns.PRICE: "float64 (nullable)",
    Columns.CATEGORY: "object (nullable)",
    Columns.BRAND: "object (nullable)",
}
"""Declared schema of the events frame: column name to the dtype it must hold."""

ORDER_COLUMNS: Final[Mapping[str, str]] = {
    Columns.PROFILE: "object",
    Columns.ORDER: "object",
    Columns.TIME: "datetime64[UTC]",
    Columns.REVENUE: "float64",
    Columns.DISCOUNT: "float64",
    REFUNDED: "bool",
}
"""Declared schema of the orders frame (``refunded_at`` is optional)."""


class FrameSchemaError(InvalidInput):
    """A frame lacks a declared column or holds a naive timestamp column."""

    code = "invalid_frame"


def _check(frame: pd.DataFrame, columns: Mapping[str, str], what: str) -> None:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise FrameSchemaError(f"{what} frame lacks columns {missing}")
    time = frame[Columns.TIME]
    if not isinstance(time.dtype, pd.DatetimeTZDtype):
        raise FrameSchemaError(f"{what} frame column {Columns.TIME!r} must be tz-aware datetime64")


def check_events(events: pd.DataFrame) -> None:
    """Raise :class:`FrameSchemaError` unless ``events`` follows :data:`EVENT_COLUMNS`."""
    _check(events, EVENT_COLUMNS, "events")


def check_orders(orders: pd.DataFrame) -> None:
    """Raise :class:`FrameSchemaError` unless ``orders`` follows :data:`ORDER_COLUMNS`."""
    _check(orders, ORDER_COLUMNS, "orders")


def empty_events() -> pd.DataFrame:
    """An events frame with the declared columns and no rows."""
    frame = pd.DataFrame({name: pd.Series([], dtype=object) for name in EVENT_COLUMNS})
    frame[Columns.TIME] = pd.Series([], dtype="datetime64[ns, UTC]")
    frame[Columns.PRICE] = pd.Series([], dtype=float)
    return frame


def as_timestamp(moment: datetime | pd.Timestamp | str) -> pd.Timestamp:
    """``moment`` as a tz-aware UTC timestamp (naive input is read as UTC)."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def days(delta: pd.Series) -> pd.Series:
    """A series of time differences in (fractional) days."""
    result: pd.Series = delta.dt.total_seconds() / 86400.0
    return result


def cut(frame: pd.DataFrame, as_of: datetime | pd.Timestamp | str) -> pd.DataFrame:
    """Rows of ``frame`` known at ``as_of``: time at or before the cutoff.

    For an orders frame the refund flag is also rewound: a refund dated after ``as_of`` is not
    known yet, so the order counts as not refunded.

    Parameters
    ----------
    frame
        An events or orders frame.
    as_of
        The cutoff; nothing later is read.

    Returns
    -------
    pandas.DataFrame
        A copy holding only what was known at ``as_of``.
    """
    stamp = as_timestamp(as_of)
    known = frame.loc[frame[Columns.TIME] <= stamp].copy()
    if REFUNDED in known.columns and REFUNDED_AT in known.columns:
        refund_time = known[REFUNDED_AT]
        known[REFUNDED] = (
            known[REFUNDED].astype(bool) & refund_time.notna() & (refund_time <= stamp)
        )
        known[REFUNDED_AT] = refund_time.where(known[REFUNDED])
    return known


def window(frame: pd.DataFrame, start: datetime | pd.Timestamp | str, days: float) -> pd.DataFrame:
    """Rows of ``frame`` with time in the half-open window ``(start, start + days]``."""
    begin = as_timestamp(start)
    end = begin + pd.Timedelta(days=days)
    time = frame[Columns.TIME]
    return frame.loc[(time > begin) & (time <= end)]
