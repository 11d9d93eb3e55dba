"""Reading the stored KPIs: counts per bucket and group, with the rates derived from them.

Every rate is taken per impression (answer served), so the funnel reads left to right in one unit:
``ctr`` (clicks), ``add_to_cart_rate`` (adds) and ``conversion_rate`` (attributed orders) per
impression; ``revenue_per_visitor`` divides attributed revenue by the distinct shoppers shown an
answer, ``average_order_value`` by the attributed orders; ``catalog_coverage`` is the distinct
items shown over the available catalog, and ``fallback_share`` the share of answers the fallback
rules gave. A rate whose denominator is zero is ``None``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal

import sqlalchemy as sa

from shopwise.errors import InvalidInput
from shopwise.store import kpi_buckets

Grain = Literal["hour", "day"]
GRAINS: Final = ("hour", "day")

RATES: Final[dict[str, tuple[str, str]]] = {
    "ctr": ("clicks", "impressions"),
    "add_to_cart_rate": ("adds", "impressions"),
    "conversion_rate": ("orders", "impressions"),
    "revenue_per_visitor": ("revenue", "visitors"),
    "average_order_value": ("revenue", "orders"),
    "catalog_coverage": ("distinct_items", "catalog_size"),
    "fallback_share": ("fallbacks", "impressions"),
}
"""Each derived rate: its numerator and denominator columns."""


def read_kpis(
    engine: sa.Engine,
    start_ms: int,
    end_ms: int,
    grain: str = "day",
    *,
    placement: str | None = None,
    model_version: str | None = None,
    variant: str | None = None,
) -> list[dict[str, Any]]:
    """The KPI rows of the buckets starting in ``[start_ms, end_ms)``, oldest first.

    Raises
    ------
    InvalidInput
        For a grain other than ``hour`` or ``day``, or an empty range (naming the field).
    """
    if grain not in GRAINS:
        raise _invalid("grain", f"grain must be 'hour' or 'day', not {grain!r}")
    if end_ms <= start_ms:
        raise _invalid("to", "'to' must be after 'from'")
    table = kpi_buckets
    query = (
        sa.select(table)
        .where(table.c.grain == grain, table.c.bucket_start >= start_ms)
        .where(table.c.bucket_start < end_ms)
        .order_by(
            table.c.bucket_start,
            table.c.placement,
            table.c.model_version,
            table.c.rule_version,
            table.c.variant,
        )
    )
    for name, value in (
        ("placement", placement),
        ("model_version", model_version),
        ("variant", variant),
    ):
        if value is not None:
            query = query.where(table.c[name] == value)
    with engine.connect() as conn:
        return [_with_rates(dict(row._mapping)) for row in conn.execute(query)]


def _with_rates(row: dict[str, Any]) -> dict[str, Any]:
    for internal in ("computed_at", "visitor_sketch", "item_sketch", "order_sketch"):
        row.pop(internal)
    start = datetime.fromtimestamp(row["bucket_start"] / 1000, UTC)
    row["bucket_start"] = start.isoformat().replace("+00:00", "Z")
    for rate, (numerator, denominator) in RATES.items():
        row[rate] = row[numerator] / row[denominator] if row[denominator] else None
    return row


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        message, details=[{"field": field, "code": "invalid_value", "message": message}]
    )
