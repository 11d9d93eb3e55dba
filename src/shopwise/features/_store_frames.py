"""The customer-intelligence input frames read from the event store, per canonical profile.

Features and customer models read an events frame and an orders frame (:mod:`._frames`); this module
builds both from the ``events`` table through :class:`shopwise.privacy.ConsentedEvents`, the reader
recommender training uses too: each event is attributed to its canonical profile, so a shopper's
anonymous browsing and logged-in orders land on one row, and whatever the purpose's consent refuses
is left out.
Orders come from ``order_completed`` events (one row per order id, the first one received wins);
an ``order_refunded`` event with the same order id marks the order refunded at the refund's time,
so :func:`shopwise.features.cut` never lets a later refund leak into an earlier cutoff.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from shopwise.features._frames import EVENT_COLUMNS, REFUNDED, REFUNDED_AT
from shopwise.privacy import ConsentedEvent, ConsentedEvents, ConsentPolicy
from shopwise.schema import Columns, EventType, Purpose

ItemInfo = Callable[[str], tuple[str | None, str | None]]
"""Category path and brand of a product id (``Catalog.item_info``), for events that lack them."""


@dataclass(frozen=True)
class StoreFrames:
    """The events and orders frames of the consenting profiles, and what was left out.

    Attributes
    ----------
    events
        Events frame (:data:`shopwise.features.EVENT_COLUMNS`); an order becomes one
        ``order_completed`` row per product line, as the dataset adapters do.
    orders
        Orders frame (:data:`shopwise.features.ORDER_COLUMNS` plus ``refunded_at``).
    purpose
        The consent purpose the frames were filtered on.
    excluded_events
        Events left out because their own or their profile's consent refuses ``purpose``.
    """

    events: pd.DataFrame
    orders: pd.DataFrame
    purpose: Purpose
    excluded_events: int

    @property
    def latest(self) -> pd.Timestamp | None:
        """Time of the latest event or order in the frames (``None`` when both are empty)."""
        times = [frame[Columns.TIME].max() for frame in (self.events, self.orders) if len(frame)]
        return max(times) if times else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _price(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


_OBJECT_COLUMNS = frozenset({Columns.SESSION, Columns.ITEM, Columns.CATEGORY, Columns.BRAND})
"""Built as Python objects straight away: a string column would copy each shared text."""


class _Rows:
    """Column lists for the two frames, filled event by event."""

    def __init__(self, item_info: ItemInfo | None) -> None:
        self.item_info = item_info
        self.events: dict[str, list[Any]] = {name: [] for name in EVENT_COLUMNS}
        self.orders: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, int] = {}
        self.texts: dict[str, str] = {}
        """One string object per distinct text: ids, types and categories repeat across events."""

    def shared(self, value: str | None) -> str | None:
        """``value`` as the one object of the frames that holds the same text."""
        return None if value is None else self.texts.setdefault(value, value)

    def add_event(self, row: ConsentedEvent, product: str | None, props: dict[str, Any]) -> None:
        category, brand = _text(props.get(Columns.CATEGORY)), _text(props.get(Columns.BRAND))
        if product is not None and (category is None or brand is None) and self.item_info:
            known_category, known_brand = self.item_info(product)
            category, brand = category or known_category, brand or known_brand
        shared = self.shared
        values = (
            shared(row.profile),
            shared(row.type),
            row.timestamp,
            shared(row.session_id),
            shared(product),
            _price(props.get(Columns.PRICE)),
            shared(category),
            shared(brand),
        )
        for name, value in zip(EVENT_COLUMNS, values, strict=True):
            self.events[name].append(value)

    def add(self, row: ConsentedEvent) -> None:
        profile, props = row.profile, row.properties
        if row.type == EventType.ORDER_COMPLETED:
            order = str(props.get(Columns.ORDER, ""))
            if order and order not in self.orders:
                self.orders[order] = {
                    Columns.PROFILE: profile,
                    Columns.TIME: row.timestamp,
                    Columns.REVENUE: _price(props.get(Columns.REVENUE)) or 0.0,
                    Columns.DISCOUNT: _price(props.get(Columns.DISCOUNT)) or 0.0,
                }
            for line in props.get("products") or []:
                self.add_event(row, _text(line.get(Columns.ITEM)), line)
            return
        if row.type == EventType.ORDER_REFUNDED:
            order = str(props.get(Columns.ORDER, ""))
            if order:
                self.refunds[order] = min(self.refunds.get(order, row.timestamp), row.timestamp)
        self.add_event(row, row.product_id, props)

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        frame = pd.DataFrame(
            {
                name: pd.Series(values, dtype=object) if name in _OBJECT_COLUMNS else values
                for name, values in self.events.items()
            }
        )
        frame[Columns.TIME] = pd.to_datetime(
            frame[Columns.TIME].astype("int64"), unit="ms", utc=True
        )
        frame[Columns.PRICE] = frame[Columns.PRICE].astype(float)
        orders = pd.DataFrame(
            [{Columns.ORDER: order, **fields} for order, fields in self.orders.items()],
            columns=[
                Columns.ORDER,
                Columns.PROFILE,
                Columns.TIME,
                Columns.REVENUE,
                Columns.DISCOUNT,
            ],
        )
        refunded_ms = orders[Columns.ORDER].map(self.refunds)
        orders[REFUNDED] = refunded_ms.notna().astype(bool)
        orders[REFUNDED_AT] = pd.to_datetime(refunded_ms.astype("float64"), unit="ms", utc=True)
        orders[Columns.TIME] = pd.to_datetime(
            orders[Columns.TIME].astype("int64"), unit="ms", utc=True
        )
        orders[Columns.REVENUE] = orders[Columns.REVENUE].astype(float)
        orders[Columns.DISCOUNT] = orders[Columns.DISCOUNT].astype(float)
        return frame, orders


def store_frames(
    engine: sa.Engine,
    policy: ConsentPolicy,
    purpose: Purpose = Purpose.ANALYTICS,
    *,
    item_info: ItemInfo | None = None,
    types: frozenset[str] | None = None,
) -> StoreFrames:
    """Read the events and orders frames of every profile that allows ``purpose``.

    Parameters
    ----------
    engine
        The store.
    policy
        What each purpose needs (the settings' consent modes).
    purpose
        Consent purpose the data must be allowed for (see the module docstring).
    item_info
        Fills the category and brand of product events that do not carry them.
    types
        Event types to read (orders and refunds are always read); all types by default.

    Returns
    -------
    StoreFrames
        The frames, keyed by canonical profile id, and the number of events left out.
    """
    wanted = None if types is None else {*types, *_ORDER_TYPES}
    stored = ConsentedEvents(engine, policy, purpose, wanted)
    rows = _Rows(item_info)
    for row in stored:
        rows.add(row)
    frame, orders = rows.frames()
    return StoreFrames(frame, orders, purpose, stored.excluded)


_ORDER_TYPES = (EventType.ORDER_COMPLETED, EventType.ORDER_REFUNDED)
"""Always read, whatever ``types`` asks for: they make the orders frame."""
