"""Shop-level traffic model: when customers visit, what mails they get, what they look at.

Visits arrive as a Poisson process per day whose rate follows the customer's type, the weekday
(weekend peak, evening peak within the day) and the sale window; one-off customers come on one day
only and lapsed customers stop after their last active day. Email campaigns (a Thursday newsletter
and two sale mailings) add visits through clicks. :class:`SessionModel` also precomputes, per
customer, how attractive each product is to view and to put in the cart, from popularity, brand
affinity, quality and price against the customer's budget; ``_sessions`` walks through the visits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np

from shopwise.simulate._catalog import Catalog, FloatArray
from shopwise.simulate._config import SimulationConfig
from shopwise.simulate._customers import Customer, CustomerType
from shopwise.simulate._vocab import DEPARTMENTS

DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000
_WEEKDAY: Final = np.array([0.85, 0.85, 0.9, 0.95, 1.0, 1.35, 1.45])  # Monday first
_HOURS: Final = np.array(
    [0.3, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.6, 0.8, 0.9, 1.0, 1.1,
     1.3, 1.2, 1.1, 1.1, 1.2, 1.4, 1.7, 2.0, 2.2, 2.0, 1.4, 0.8]
)  # fmt: skip
_HOUR_P: Final = _HOURS / _HOURS.sum()
_BRANDS_PER_DEPARTMENT: Final = len(DEPARTMENTS[0].brands)


def view_affinity(
    popularity: FloatArray,
    quality: FloatArray,
    brand_taste: FloatArray,
    relative_price: FloatArray,
    budget: float,
    sensitivity: float,
    brand_beta: float,
) -> FloatArray:
    """Log-weight with which a customer views each product of a category they browse.

    Popular and good products draw views, liked brands more so for brand-loyal types, and prices
    above the customer's budget (relative to the category median) put price-sensitive customers
    off. The session model draws views with it; :meth:`ShopTruth.view_distribution` reuses it.
    """
    brand = brand_beta * np.log(brand_taste * _BRANDS_PER_DEPARTMENT + 0.05)
    over = np.maximum(0.0, np.log(relative_price / budget))
    logits = 0.8 * popularity + brand + 0.3 * quality - 0.7 * sensitivity * over
    return np.asarray(logits, dtype=np.float64)


@dataclass(frozen=True)
class Campaign:
    """An email campaign sent to every reachable customer at ``send_ms``."""

    email_id: str
    name: str
    send_ms: int
    sale: bool


def _to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def campaigns(config: SimulationConfig) -> list[Campaign]:
    """The email campaigns of the period: a Thursday newsletter and two sale mailings."""
    start = datetime(config.start.year, config.start.month, config.start.day, 8, tzinfo=UTC)
    out = []
    for day in range(config.days):
        moment = start + timedelta(days=day)
        if moment.weekday() == 3:
            week = moment.isocalendar()
            out.append(
                Campaign(
                    f"newsletter-{week.year}-w{week.week:02d}",
                    "weekly newsletter",
                    _to_ms(moment),
                    False,
                )
            )
    if config.sale_start_day is not None:
        first = start + timedelta(days=config.sale_start_day, hours=-1)
        last = start + timedelta(days=config.sale_start_day + config.sale_days - 1)
        out.append(Campaign(f"sale-launch-{first:%Y%m%d}", "sale launch", _to_ms(first), True))
        if config.sale_days > 1:
            out.append(Campaign(f"sale-last-{last:%Y%m%d}", "sale last chance", _to_ms(last), True))
    return out


class SessionModel:
    """Shop-level state shared by every customer's run: calendar, campaigns, product lookups."""

    def __init__(self, config: SimulationConfig, catalog: Catalog) -> None:
        self.config = config
        self.catalog = catalog
        self.start_ms = _to_ms(
            datetime(config.start.year, config.start.month, config.start.day, tzinfo=UTC)
        )
        self.end_ms = self.start_ms + config.days * DAY_MS
        weekdays = np.array([(config.start.weekday() + d) % 7 for d in range(config.days)])
        self.day_factor = _WEEKDAY[weekdays]
        self.sale_mask = np.array([config.is_sale_day(d) for d in range(config.days)])
        self.campaigns = campaigns(config)
        leaf_median = np.array([leaf.median_price for leaf in catalog.leaves])
        self.leaf_median_of_item = leaf_median[catalog.leaf]
        self.sale_price = np.where(np.isnan(catalog.sale_price), catalog.price, catalog.sale_price)
        self.on_sale = ~np.isnan(catalog.sale_price)
        # Strings and index arrays looked up on every event, computed once.
        self.leaf_label = [leaf.label for leaf in catalog.leaves]
        self.leaf_slug = [leaf.slug for leaf in catalog.leaves]
        self.item_label = [self.leaf_label[int(j)] for j in catalog.leaf]
        self.item_brand = [catalog.brands[int(b)] for b in catalog.brand]
        self.by_popularity = tuple(
            m[np.argsort(-catalog.popularity[m], kind="stable")] for m in catalog.leaf_members
        )
        stocked = np.array([m.size > 0 for m in catalog.leaf_members], dtype=bool)
        self.complement_leaves = tuple(mates[stocked[mates]] for mates in catalog.leaf_complements)
        """Per leaf, the complementary leaves that have products (a shopper can look there)."""
        self.noun_members: dict[tuple[int, str], np.ndarray[Any, Any]] = {}
        for j, members in enumerate(catalog.leaf_members):
            for noun in catalog.leaves[j].nouns:
                chosen = [int(i) for i in members if catalog.noun[int(i)] == noun]
                self.noun_members[j, noun] = np.asarray(chosen, dtype=np.int64)

    def visit_starts(self, customer: Customer, rng: np.random.Generator) -> list[int]:
        """Start times (ms) of the customer's own visits: Poisson per day, evening peak."""
        params = customer.params
        days = self.config.days
        if customer.customer_type is CustomerType.ONE_OFF:
            weight = self.day_factor * np.where(self.sale_mask, params.sale_boost, 1.0)
            counts = np.zeros(days, dtype=np.int64)
            first = int(rng.choice(days, p=weight / weight.sum()))
            counts[first] = 1 + rng.poisson(0.3)
            if rng.random() < 0.25 and first + 1 < days:
                counts[int(rng.integers(first + 1, min(days, first + 4)))] += 1
        else:
            rate = params.sessions_per_day * self.config.traffic_scale * self.day_factor
            rate = rate * np.where(self.sale_mask, params.sale_boost, 1.0)
            if customer.active_until_day is not None:
                rate[customer.active_until_day + 1 :] = 0.0
            counts = rng.poisson(rate)
        day_of = np.repeat(np.arange(days), counts)
        hours = rng.choice(24, size=day_of.size, p=_HOUR_P)
        offsets = rng.integers(0, HOUR_MS, size=day_of.size)
        starts = self.start_ms + day_of * DAY_MS + hours * HOUR_MS + offsets
        return sorted(int(s) for s in starts)

    def view_logits(self, customer: Customer, sale: bool) -> FloatArray:
        """Log-weight of viewing each product, given this customer's tastes and the day's prices."""
        cat = self.catalog
        return view_affinity(
            popularity=cat.popularity,
            quality=cat.quality,
            brand_taste=customer.brand_affinity[cat.brand],
            relative_price=(self.sale_price if sale else cat.price) / self.leaf_median_of_item,
            budget=customer.budget,
            sensitivity=customer.price_sensitivity,
            brand_beta=customer.params.brand_beta,
        )

    def cart_logits(self, customer: Customer, sale: bool) -> FloatArray:
        """Log-odds of adding each product to the cart once viewed."""
        cat = self.catalog
        brand = np.log(customer.brand_affinity[cat.brand] * _BRANDS_PER_DEPARTMENT + 0.05)
        price = self.sale_price if sale else cat.price
        over = np.maximum(0.0, np.log(price / (self.leaf_median_of_item * customer.budget)))
        sens = customer.price_sensitivity
        logits = customer.params.cart_bias + 0.5 * cat.quality + 0.4 * brand - sens * over
        if sale:
            logits = logits + 0.4 * sens * self.on_sale
        return np.asarray(logits, dtype=np.float64)
