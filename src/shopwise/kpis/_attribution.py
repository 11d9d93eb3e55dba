"""The attribution rules: which clicks, adds to cart and orders count for which served answer.

Everything counts for the answer's bucket (the UTC hour or day it was served in), whatever time
the click or order came, so a bucket's numbers are those of the answers it served:

- **impressions**: answers served (``recommendation_viewed`` exposures), and the items they showed;
- **clicks**: ``recommendation_clicked``, or ``product_viewed`` / ``email_clicked`` /
  ``promotion_clicked`` (a banner) carrying the answer's ``recommendation_id``, at most ``window``
  after the answer; one per answer and product
  (a shop sending both a click and the product view it led to counts one click);
- **adds**: ``product_added`` carrying the answer's id within the same window, one per answer and
  product;
- **orders and revenue**: an ``order_completed`` of the clicker's profile at most ``window`` after
  the click. Each order line goes to the latest such click on the line's product (last click
  wins, so two answers never share a line); the line's ``price`` times ``quantity`` is the
  attributed revenue (a line without a price adds none) and the order counts once for each
  answer group that got one of its lines. Lines of products nobody clicked are not attributed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from shopwise.schema import served_at

HOUR_MS = 60 * 60 * 1000
DAY_MS = 24 * HOUR_MS

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True, order=True)
class Dims:
    """The group a served answer is counted in."""

    placement: str
    model_version: str
    rule_version: str
    variant: str


@dataclass(frozen=True, slots=True)
class Exposure:
    """One served answer, for a consenting shopper; ``experiment`` is the id of the experiment
    whose variant (``dims.variant``) it served, or ``None`` outside experiments."""

    recommendation_id: str
    profile: str
    served_at: int
    dims: Dims
    product_ids: tuple[str, ...]
    fallback: bool
    experiment: str | None = None


@dataclass(frozen=True, slots=True)
class Touch:
    """A click or an add to cart that names the answer it came from."""

    event_id: int
    recommendation_id: str
    profile: str
    product_id: str | None
    timestamp: int


@dataclass(frozen=True, slots=True)
class Order:
    """A completed order: its id, buyer, time and ``(product_id, amount)`` lines."""

    event_id: int
    order_id: str
    profile: str
    timestamp: int
    lines: tuple[tuple[str, float], ...]


@dataclass(slots=True)
class Totals:
    """The counts of one bucket and group; rates are derived when read (:mod:`._query`)."""

    impressions: int = 0
    items_shown: int = 0
    distinct_items: int = 0
    catalog_size: int = 0
    fallbacks: int = 0
    visitors: int = 0
    clicks: int = 0
    adds: int = 0
    orders: int = 0
    revenue: float = 0.0


def in_window(touch: Touch, window_ms: int) -> bool:
    """Whether a click or add comes at most ``window_ms`` after the answer it names."""
    served = served_at(touch.recommendation_id)
    return served is not None and served <= touch.timestamp <= served + window_ms


def bucket_start(timestamp: int, grain_ms: int) -> int:
    """The start of the UTC hour (``HOUR_MS``) or day (``DAY_MS``) holding ``timestamp``."""
    return timestamp - timestamp % grain_ms


@dataclass
class _Group:
    totals: Totals = field(default_factory=Totals)
    items: set[str] = field(default_factory=set)
    visitors: set[str] = field(default_factory=set)
    orders: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Outcomes:
    """What the clicks, adds and orders earned each answer, by recommendation id: the clicks and
    adds counted (one per product, in the answer's window) and the order lines won (last click
    wins), as ``(order_id, amount)``."""

    clicks: dict[str, int]
    adds: dict[str, int]
    lines: dict[str, list[tuple[str, float]]]


def outcomes(
    clicks: Sequence[Touch], adds: Iterable[Touch], orders: Iterable[Order], window_ms: int
) -> Outcomes:
    """The :class:`Outcomes` of every answer ``clicks`` and ``adds`` name.

    ``clicks`` must hold every click that may compete for an order's lines: those up to
    ``window_ms`` before the first order, of any answer (see the module docstring).
    """
    return Outcomes(
        _counted(clicks, window_ms), _counted(adds, window_ms), _won(orders, clicks, window_ms)
    )


@dataclass
class Tally(Generic[K]):
    """Folds served answers into the totals of their groups, one answer at a time, so a caller
    reading a bucket's exposures never holds them all; an answer folded twice counts once."""

    outcomes: Outcomes
    groups: defaultdict[K, _Group] = field(default_factory=lambda: defaultdict(_Group))
    seen: set[str] = field(default_factory=set)

    def add(self, exposure: Exposure, *keys: K) -> None:
        """Count ``exposure`` in each of the groups ``keys`` (a day's and an hour's, say)."""
        rid = exposure.recommendation_id
        if rid in self.seen:
            return
        self.seen.add(rid)
        clicks = self.outcomes.clicks.get(rid, 0)
        adds = self.outcomes.adds.get(rid, 0)
        lines = self.outcomes.lines.get(rid, ())
        for key in keys:
            group = self.groups[key]
            totals = group.totals
            totals.impressions += 1
            totals.items_shown += len(exposure.product_ids)
            totals.fallbacks += exposure.fallback
            totals.clicks += clicks
            totals.adds += adds
            group.items.update(exposure.product_ids)
            group.visitors.add(exposure.profile)
            for order_id, amount in lines:
                totals.revenue += amount
                group.orders.add(order_id)

    def totals(self) -> dict[K, Totals]:
        """The totals of each group folded so far (``catalog_size`` left 0)."""
        for group in self.groups.values():
            group.totals.distinct_items = len(group.items)
            group.totals.visitors = len(group.visitors)
            group.totals.orders = len(group.orders)
        return {key: group.totals for key, group in self.groups.items()}


def aggregate(
    exposures: Iterable[Exposure],
    clicks: Sequence[Touch],
    adds: Iterable[Touch],
    orders: Iterable[Order],
    window_ms: int,
    catalog_size: int,
) -> dict[Dims, Totals]:
    """The totals per group of ``exposures`` (one bucket's answers).

    ``clicks`` must hold every click that may compete for an order's lines: those up to
    ``window_ms`` before the first order, of any answer (see the module docstring).
    """
    totals = aggregate_by(_dims, exposures, clicks, adds, orders, window_ms)
    for group in totals.values():
        group.catalog_size = catalog_size
    return totals


def aggregate_by(
    key: Callable[[Exposure], K | None],
    exposures: Iterable[Exposure],
    clicks: Sequence[Touch],
    adds: Iterable[Touch],
    orders: Iterable[Order],
    window_ms: int,
) -> dict[K, Totals]:
    """The totals of ``exposures`` grouped by ``key`` (exposures it maps to ``None`` are left
    out): :func:`aggregate` groups by :class:`Dims`, an experiment by unit. ``catalog_size`` is
    left 0; ``clicks`` as for :func:`aggregate`. ``exposures`` is read once, as it comes."""
    tally: Tally[K] = Tally(outcomes(clicks, adds, orders, window_ms))
    for exposure in exposures:
        group_key = key(exposure)
        if group_key is not None:
            tally.add(exposure, group_key)
    return tally.totals()


def _dims(exposure: Exposure) -> Dims:
    return exposure.dims


def _counted(touches: Iterable[Touch], window_ms: int) -> dict[str, int]:
    """Touches in their answer's window, one per answer and product, per answer."""
    seen: set[tuple[str, str | None]] = set()
    counts: defaultdict[str, int] = defaultdict(int)
    for touch in touches:
        key = (touch.recommendation_id, touch.product_id)
        if key in seen or not in_window(touch, window_ms):
            continue
        seen.add(key)
        counts[touch.recommendation_id] += 1
    return counts


def clicks_by_product(
    clicks: Iterable[Touch], window_ms: int
) -> dict[tuple[str, str], list[Touch]]:
    """Clicks in their answer's window that name a product, by ``(profile, product_id)``."""
    found: defaultdict[tuple[str, str], list[Touch]] = defaultdict(list)
    for click in clicks:
        if click.product_id is not None and in_window(click, window_ms):
            found[(click.profile, click.product_id)].append(click)
    return found


def winning_click(candidates: Sequence[Touch], order_time: int, window_ms: int) -> Touch | None:
    """The latest click at most ``window_ms`` before an order (last click wins)."""
    eligible = [c for c in candidates if c.timestamp <= order_time <= c.timestamp + window_ms]
    return max(eligible, key=lambda c: (c.timestamp, c.event_id), default=None)


def _won(
    orders: Iterable[Order], clicks: Sequence[Touch], window_ms: int
) -> dict[str, list[tuple[str, float]]]:
    """The order lines each answer's clicks win, as ``(order_id, amount)`` by recommendation id;
    an order sent again counts once."""
    by_product = clicks_by_product(clicks, window_ms)
    counted: set[str] = set()
    won: defaultdict[str, list[tuple[str, float]]] = defaultdict(list)
    for order in sorted(orders, key=lambda o: (o.timestamp, o.event_id)):
        if order.order_id in counted:  # the same order sent again
            continue
        counted.add(order.order_id)
        for product_id, amount in order.lines:
            click = winning_click(
                by_product.get((order.profile, product_id), ()), order.timestamp, window_ms
            )
            if click is not None:
                won[click.recommendation_id].append((order.order_id, amount))
    return won
