"""What the closed loop's shoppers got, per experiment variant, as the client saw it.

:class:`TrafficSummary` is what :class:`~shopwise.simulate.TrafficSimulator` reports: the events it
sent and the collector's answer, every order, and one :class:`VariantSummary` per experiment
variant (and one for the answers outside experiments) counted under the attribution rules of
:mod:`shopwise.kpis`, so the server's KPIs and experiment results can be checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Group = tuple[str | None, str | None]
"""(experiment id, variant) of an answer; ``(None, None)`` outside every experiment."""


@dataclass(frozen=True)
class VariantSummary:
    """What one experiment variant (or the traffic outside experiments) got, client-side.

    ``impressions`` are answers with products; ``clicks`` the products clicked in them and their
    banners clicked (``banner_clicks`` of them), at most one per answer and product; ``adds`` at
    most one per answer and product; ``orders`` those with a line attributed to the group's
    answers and ``revenue`` the attributed lines' price times quantity (the rules of
    :mod:`shopwise.kpis`).
    """

    experiment: str | None
    variant: str | None
    visits: int
    visitors: int
    impressions: int
    items_shown: int
    clicks: int
    adds: int
    orders: int
    revenue: float
    banner_views: int
    banner_clicks: int

    @property
    def ctr(self) -> float | None:
        """Clicks per impression."""
        return self.clicks / self.impressions if self.impressions else None

    @property
    def add_to_cart_rate(self) -> float | None:
        """Adds per impression."""
        return self.adds / self.impressions if self.impressions else None

    @property
    def conversion_rate(self) -> float | None:
        """Attributed orders per impression."""
        return self.orders / self.impressions if self.impressions else None

    @property
    def revenue_per_visitor(self) -> float | None:
        """Attributed revenue per shopper shown the group's answers."""
        return self.revenue / self.visitors if self.visitors else None


@dataclass(frozen=True)
class TrafficSummary:
    """Everything a simulator sent and got so far.

    Attributes
    ----------
    visits
        Visits made.
    events, accepted, duplicates, rejected
        Events sent, and the collector's counts for them.
    rejections
        The first rejections the collector reported (index, code, message).
    orders, revenue
        All orders placed and their revenue, attributed or not.
    variants
        Per experiment variant (and outside experiments), in order of first answer.
    """

    visits: int
    events: int
    accepted: int
    duplicates: int
    rejected: int
    rejections: tuple[dict[str, Any], ...]
    orders: int
    revenue: float
    variants: tuple[VariantSummary, ...]

    def variant(self, experiment: str | None, variant: str | None) -> VariantSummary | None:
        """The summary of one variant (``None, None``: outside experiments), if it was served."""
        for row in self.variants:
            if (row.experiment, row.variant) == (experiment, variant):
                return row
        return None


@dataclass
class Tally:
    """The running counts of one group (:class:`VariantSummary` once read)."""

    visits: int = 0
    visitors: set[str] = field(default_factory=set)
    impressions: int = 0
    items_shown: int = 0
    clicks: int = 0
    adds: int = 0
    orders: int = 0
    revenue: float = 0.0
    banner_views: int = 0
    banner_clicks: int = 0

    def summary(self, group: Group) -> VariantSummary:
        return VariantSummary(
            experiment=group[0],
            variant=group[1],
            visits=self.visits,
            visitors=len(self.visitors),
            impressions=self.impressions,
            items_shown=self.items_shown,
            clicks=self.clicks,
            adds=self.adds,
            orders=self.orders,
            revenue=round(self.revenue, 2),
            banner_views=self.banner_views,
            banner_clicks=self.banner_clicks,
        )
