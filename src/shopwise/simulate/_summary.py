"""Headline numbers of a simulated shop, for the CLI and for checking that the shop is believable.

:func:`summarize` counts events per type and customers per latent type, and measures what a
merchant would look at first: visits, conversion, revenue, the weekend peak and the sale uplift.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from shopwise.simulate._shop import SimulatedShop


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def summarize(shop: SimulatedShop) -> dict[str, Any]:
    """Headline numbers of ``shop`` (JSON-able).

    Parameters
    ----------
    shop
        A shop from :func:`shopwise.simulate.simulate`.

    Returns
    -------
    dict
        ``events``, ``products``, ``customers``, ``events_by_type``, ``customers_by_type``,
        ``visits`` (landing page views), ``orders``, ``revenue``, ``conversion`` (orders per
        visit), ``weekend_uplift`` (mean visits on a weekend day over a weekday, outside the
        sale), ``sale_uplift`` (mean daily visits in the sale over outside it, or ``None``) and
        ``identified_share`` (events that carry a ``user_id``).
    """
    by_type = Counter(event["type"] for event in shop.events)
    daily: Counter[date] = Counter()
    revenue = 0.0
    identified = 0
    for event in shop.events:
        identified += "user_id" in event
        if event["type"] == "page_viewed":
            daily[date.fromisoformat(event["timestamp"][:10])] += 1
        elif event["type"] == "order_completed":
            revenue += event["properties"]["revenue"]
    sale = shop.truth.sale_window
    in_sale = {d for d in daily if sale is not None and sale[0] <= d.isoformat() <= sale[1]}
    normal = [d for d in daily if d not in in_sale]
    weekend = _mean([daily[d] for d in normal if d.weekday() >= 5])
    weekday = _mean([daily[d] for d in normal if d.weekday() < 5])
    normal_mean = _mean([daily[d] for d in normal])
    visits = by_type["page_viewed"]
    return {
        "events": len(shop.events),
        "products": len(shop.products),
        "customers": len(shop.customers),
        "events_by_type": dict(by_type.most_common()),
        "customers_by_type": dict(Counter(str(c.customer_type) for c in shop.customers)),
        "visits": visits,
        "orders": by_type["order_completed"],
        "revenue": round(revenue, 2),
        "conversion": round(by_type["order_completed"] / visits, 4) if visits else 0.0,
        "weekend_uplift": round(weekend / weekday, 3) if weekday else None,
        "sale_uplift": (
            round(_mean([daily[d] for d in in_sale]) / normal_mean, 3)
            if in_sale and normal_mean
            else None
        ),
        "identified_share": round(identified / len(shop.events), 4) if shop.events else 0.0,
    }
