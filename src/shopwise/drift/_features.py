"""What a drift check compares: per-event input features and the event mix of each window.

One pass over the consented events (:class:`~shopwise.privacy.ConsentedEvents` for
personalization, as recommender training reads them) fills a :class:`WindowSample` per window:

- inputs the models use: the price of each interacted product (the event's own ``price``, else the
  catalog's), its price band (:data:`PRICE_BANDS`, in the shop's currency), its top-level category;
- the event mix: the event types, the UTC hour each session starts, the events of each profile
  on each UTC day it was active (not per profile over the window, which grows with the window's
  length) and of each session (the hour is read once a session: its events share it, and
  counting each would weigh a long visit as many independent ones);
- each profile's interacted products in time order, from which the champion's scores are drawn
  (:mod:`shopwise.drift._scores`).

A device is not among the fields the consented reader exposes, so it is not compared.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from shopwise.catalog import Product
from shopwise.drift._windows import DAY_MS, Window
from shopwise.privacy import ConsentedEvent
from shopwise.schema import Columns, EventType

PRICE_BANDS: Final = (10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0)
"""Upper bounds of the price bands (the last band is open): a new price band is a new category."""
UNKNOWN: Final = "(none)"
"""The category of a product the catalog does not hold or that has no category."""


def price_band(price: float) -> str:
    """The band of ``price`` among :data:`PRICE_BANDS`, as ``"25-50"`` or ``">=1000"``."""
    low = 0.0
    for high in PRICE_BANDS:
        if price < high:
            return f"{low:g}-{high:g}"
        low = high
    return f">={low:g}"


@dataclass
class WindowSample:
    """The values of one window's features, and each profile's products for scoring."""

    prices: list[float] = field(default_factory=list)
    price_bands: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)
    hours: list[str] = field(default_factory=list)
    per_profile_day: Counter[tuple[str, int]] = field(default_factory=Counter)
    per_session: Counter[str] = field(default_factory=Counter)
    products: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))

    @property
    def events(self) -> int:
        return len(self.event_types)

    def add(self, event: ConsentedEvent, catalog: dict[str, Product]) -> None:
        """Count ``event`` in this window."""
        self.event_types.append(event.type)
        self.per_profile_day[event.profile, event.timestamp // DAY_MS] += 1
        if event.session_id:
            if event.session_id not in self.per_session:
                self.hours.append(f"{(event.timestamp // 3_600_000) % 24:02d}")
            self.per_session[event.session_id] += 1
        for product_id, price in _products(event):
            self._product(product_id, price, catalog)
            self.products[event.profile].append((event.timestamp, product_id))

    def _product(self, product_id: str, price: float | None, catalog: dict[str, Product]) -> None:
        product = catalog.get(product_id)
        if price is None and product is not None:
            price = product.price
        if price is not None:
            self.prices.append(price)
            self.price_bands.append(price_band(price))
        root = product.category[0] if product is not None and product.category else UNKNOWN
        self.categories.append(root)


def _price(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _products(event: ConsentedEvent) -> Iterator[tuple[str, float | None]]:
    """The products ``event`` touches, with the price it carried (``None`` when it carried none)."""
    if event.type == EventType.ORDER_COMPLETED:
        for line in event.properties.get("products") or []:
            if isinstance(line, dict) and line.get(Columns.ITEM):
                yield str(line[Columns.ITEM]), _price(line.get(Columns.PRICE))
    elif event.product_id:
        yield event.product_id, _price(event.properties.get(Columns.PRICE))


def sample_windows(
    events: Iterable[ConsentedEvent],
    catalog: dict[str, Product],
    reference: Window,
    recent: Window,
) -> tuple[WindowSample, WindowSample]:
    """The samples of the ``reference`` and ``recent`` windows from one pass over ``events``."""
    ref, cur = WindowSample(), WindowSample()
    for event in events:
        if reference.holds(event.timestamp):
            ref.add(event, catalog)
        elif recent.holds(event.timestamp):
            cur.add(event, catalog)
    return ref, cur
