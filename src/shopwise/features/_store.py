"""The customer-intelligence input frames read from the event store, per canonical profile.

Features and customer models read an events frame and an orders frame (:mod:`._frames`); this module
builds both from the ``events`` table. Each event is attributed to the canonical profile of its
identity (the user id when it has one, else the anonymous id) through the identity graph, exactly as
recommender training does (:mod:`shopwise.models.training`), so a shopper's anonymous browsing and
logged-in orders land on one row. Consent is checked per purpose: an event whose own consent
refuses the purpose is left out, and so is every event of a profile whose latest consent refuses it.
Orders come from ``order_completed`` events (one row per order id, the first one received wins);
an ``order_refunded`` event with the same order id marks the order refunded at the refund's time,
so :func:`shopwise.features.cut` never lets a later refund leak into an earlier cutoff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from shopwise.features._frames import EVENT_COLUMNS, REFUNDED, REFUNDED_AT
from shopwise.profiles import (
    anon_key,
    event_allows,
    identity_owners,
    profile_id_for,
    refusing_profiles,
    user_key,
)
from shopwise.schema import Columns, EventType, Purpose
from shopwise.store import events

ItemInfo = Callable[[str], tuple[str | None, str | None]]
"""Category path and brand of a product id (``Catalog.item_info``), for events that lack them."""

DO_NOT_SELL = "do_not_sell"
"""Key of the CCPA opt-out of sale in a profile's consent state."""


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


class _Rows:
    """Column lists for the two frames, filled event by event."""

    def __init__(self, item_info: ItemInfo | None) -> None:
        self.item_info = item_info
        self.events: dict[str, list[Any]] = {name: [] for name in EVENT_COLUMNS}
        self.orders: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, int] = {}

    def add_event(self, profile: str, row: Any, product: str | None, props: dict[str, Any]) -> None:
        category, brand = _text(props.get(Columns.CATEGORY)), _text(props.get(Columns.BRAND))
        if product is not None and (category is None or brand is None) and self.item_info:
            known_category, known_brand = self.item_info(product)
            category, brand = category or known_category, brand or known_brand
        values = (
            profile,
            row.type,
            row.timestamp,
            row.session_id,
            product,
            _price(props.get(Columns.PRICE)),
            category,
            brand,
        )
        for name, value in zip(EVENT_COLUMNS, values, strict=True):
            self.events[name].append(value)

    def add(self, profile: str, row: Any) -> None:
        props: dict[str, Any] = row.properties or {}
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
                self.add_event(profile, row, _text(line.get(Columns.ITEM)), line)
            return
        if row.type == EventType.ORDER_REFUNDED:
            order = str(props.get(Columns.ORDER, ""))
            if order:
                self.refunds[order] = min(self.refunds.get(order, row.timestamp), row.timestamp)
        self.add_event(profile, row, row.product_id, props)

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        frame = pd.DataFrame(self.events)
        frame[Columns.TIME] = pd.to_datetime(
            frame[Columns.TIME].astype("int64"), unit="ms", utc=True
        )
        frame[Columns.PRICE] = frame[Columns.PRICE].astype(float)
        for name in (Columns.SESSION, Columns.ITEM, Columns.CATEGORY, Columns.BRAND):
            frame[name] = frame[name].astype(object)
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


def _rows(engine: sa.Engine) -> Iterator[tuple[dict[str, str], Any]]:
    query = sa.select(
        events.c.type,
        events.c.anonymous_id,
        events.c.user_id,
        events.c.session_id,
        events.c.product_id,
        events.c.timestamp,
        events.c.context,
        events.c.properties,
    ).order_by(events.c.id)
    with engine.connect() as conn:
        owners = identity_owners(conn)
        for row in conn.execution_options(yield_per=5000).execute(query):
            yield owners, row


def store_frames(
    engine: sa.Engine,
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
    refused = refusing_profiles(engine, purpose)
    rows = _Rows(item_info)
    excluded = 0
    for owners, row in _rows(engine):
        order_event = row.type in (EventType.ORDER_COMPLETED, EventType.ORDER_REFUNDED)
        if types is not None and row.type not in types and not order_event:
            continue
        key = user_key(row.user_id) if row.user_id else anon_key(row.anonymous_id)
        # identities the profile consumer has not linked yet are roots of their own profile
        profile = owners.get(key) or profile_id_for(key)
        if profile in refused or not event_allows(row.context or {}, purpose):
            excluded += 1
            continue
        rows.add(profile, row)
    frame, orders = rows.frames()
    return StoreFrames(frame, orders, purpose, excluded)
