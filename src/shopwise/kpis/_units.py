"""Reading the attributed counts of chosen answers straight from the event log, grouped as the
caller asks: per shopper for an experiment's units, per arm for a bandit.

The stored buckets of :mod:`._refresh` sum over shoppers, and an experiment needs each unit's own
impressions, clicks, adds, orders and revenue (and those of its pre-period), so this reader runs
the same attribution (:func:`~._attribution.aggregate_by`) over the same consented records, for
the answers served in one time range. :func:`read_unit_behaviour` reads what chosen shoppers did
in a range whether or not an answer led to it (their product views, adds to cart and orders),
under the same consent and identity rules: the pre-experiment behaviour that CUPED adjusts by.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from shopwise.kpis._attribution import HOUR_MS, Exposure, K, Totals, Touch, aggregate_by
from shopwise.kpis._refresh import BATCH_ROWS, CLICK_TYPES, _order, _Reader
from shopwise.privacy import ConsentPolicy
from shopwise.schema import EventType
from shopwise.store import events

BEHAVIOUR: Final = ("views", "adds", "orders", "revenue")
"""The fields of :class:`Behaviour`, in order (a covariate matrix's columns)."""
BEHAVIOUR_TYPES: Final = (
    EventType.PRODUCT_VIEWED,
    EventType.PRODUCT_ADDED,
    EventType.ORDER_COMPLETED,
)


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What one shopper did in a range, attributed to an answer or not: product views, adds to
    cart, orders, and the orders' revenue (each line's price times quantity, as attributed
    revenue counts it)."""

    views: int = 0
    adds: int = 0
    orders: int = 0
    revenue: float = 0.0

    def row(self) -> tuple[float, ...]:
        """The counts in :data:`BEHAVIOUR` order."""
        return (float(self.views), float(self.adds), float(self.orders), self.revenue)


def read_unit_totals(
    engine: sa.Engine,
    policy: ConsentPolicy,
    start_ms: int,
    end_ms: int,
    key: Callable[[Exposure], K | None],
    *,
    window_hours: int = 24,
    click_types: Collection[str] | None = None,
) -> dict[K, Totals]:
    """The attributed totals of the answers served in ``[start_ms, end_ms)``, grouped by ``key``.

    Parameters
    ----------
    engine
        The store.
    policy
        Consent modes: only events allowed for analytics count, as for the KPI job.
    start_ms, end_ms
        The serving times of the answers counted.
    key
        The group of an exposure, or ``None`` to leave it out.
    window_hours
        The attribution window (``SHOPWISE_ATTRIBUTION_WINDOW_HOURS``).
    click_types
        The event types that count as clicks (None: those of the KPIs); a banner's bandit
        counts only ``promotion_clicked``.

    Notes
    -----
    Clicks, adds and orders are read up to two windows past ``end_ms`` (an order may follow its
    click by a window, which follows its answer by a window), and clicks from a window before
    ``start_ms`` too, since an earlier answer's click may win an order line (last click wins).
    """
    window = window_hours * HOUR_MS
    with engine.connect() as conn:
        reader = _Reader(conn, policy)
        clicks, adds = _touches(
            reader, start_ms - window, end_ms + 2 * window, click_types or CLICK_TYPES
        )
        orders = reader.orders(start_ms, end_ms + 2 * window)
        exposures = reader.exposures(start_ms, end_ms)
        return aggregate_by(key, exposures, clicks, adds, orders, window)


def _touches(
    reader: _Reader, start_ms: int, end_ms: int, click_types: Collection[str]
) -> tuple[list[Touch], list[Touch]]:
    """Clicks of ``click_types`` and adds to cart naming an answer, timed in the range."""
    between = (events.c.timestamp >= start_ms) & (events.c.timestamp < end_ms)
    clicks: list[Touch] = []
    adds: list[Touch] = []
    for kind, item in reader.read(between, (*click_types, EventType.PRODUCT_ADDED)):
        if isinstance(item, Touch):
            (adds if kind == EventType.PRODUCT_ADDED else clicks).append(item)
    return clicks, adds


def read_unit_behaviour(
    engine: sa.Engine,
    policy: ConsentPolicy,
    start_ms: int,
    end_ms: int,
    profiles: Collection[str],
) -> dict[str, Behaviour]:
    """The behaviour of ``profiles`` in ``[start_ms, end_ms)``, read in one query.

    Parameters
    ----------
    engine
        The store.
    policy
        Consent modes: only events allowed for analytics count, as for the KPI job.
    start_ms, end_ms
        The event times counted.
    profiles
        Canonical profile ids; each event counts for the canonical profile of its identity
        (merged profiles resolved through the identity graph, as for the KPIs).

    Returns
    -------
    dict
        The behaviour of each of ``profiles`` that did something in the range.
    """
    wanted = set(profiles)
    found: dict[str, list[float]] = {}
    orders: set[str] = set()
    query = (
        sa.select(events)
        .where(
            events.c.timestamp >= start_ms,
            events.c.timestamp < end_ms,
            events.c.type.in_(sorted(BEHAVIOUR_TYPES)),
        )
        .order_by(events.c.id)
    )
    with engine.connect() as conn:
        reader = _Reader(conn, policy)
        for rows in conn.execution_options(yield_per=BATCH_ROWS).execute(query).partitions():
            reader.prepare(rows)
            for row in rows:
                profile = reader._profile(row)  # the KPIs' consent and identity rules
                if profile is not None and profile in wanted:
                    _count(found.setdefault(profile, [0.0] * len(BEHAVIOUR)), row, profile, orders)
    return {
        profile: Behaviour(int(views), int(adds), int(bought), revenue)
        for profile, (views, adds, bought, revenue) in found.items()
    }


def _count(counts: list[float], row: sa.Row[Any], profile: str, orders: set[str]) -> None:
    """Add one event to a profile's ``counts`` (in :data:`BEHAVIOUR` order); ``orders`` holds
    the order ids counted so far, so an order sent again counts once, as for attribution (an
    order without its id is no order there either)."""
    if row.type == EventType.PRODUCT_VIEWED:
        counts[0] += 1
    elif row.type == EventType.PRODUCT_ADDED:
        counts[1] += 1
    else:
        order = _order(row, row.properties or {}, profile)
        if order is not None and order.order_id not in orders:
            orders.add(order.order_id)
            counts[2] += 1
            counts[3] += sum(amount for _product, amount in order.lines)
