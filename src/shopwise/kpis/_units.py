"""Reading the attributed counts of chosen answers straight from the event log, grouped as the
caller asks: per shopper for an experiment's units, per arm for a bandit.

The stored buckets of :mod:`._refresh` sum over shoppers, and an experiment needs each unit's own
impressions, clicks, adds, orders and revenue (and those of its pre-period), so this reader runs
the same attribution (:func:`~._attribution.aggregate_by`) over the same consented records, for
the answers served in one time range.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import sqlalchemy as sa

from shopwise.kpis._attribution import HOUR_MS, Exposure, K, Totals, Touch, aggregate_by
from shopwise.kpis._refresh import CLICK_TYPES, _Reader
from shopwise.privacy import ConsentPolicy
from shopwise.schema import EventType, Purpose
from shopwise.store import events


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
        reader = _Reader(conn, policy.allowed_profiles(engine, Purpose.ANALYTICS))
        exposures = reader.exposures(start_ms, end_ms)
        clicks, adds = _touches(
            reader, start_ms - window, end_ms + 2 * window, click_types or CLICK_TYPES
        )
        orders = reader.orders(start_ms, end_ms + 2 * window)
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
