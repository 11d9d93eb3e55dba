"""What decisions know about the shopper and the request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shopwise.profiles import ProfileState
from shopwise.schema import EventType


@dataclass(frozen=True)
class ShopperContext:
    """The request and the shopper as rules see them.

    ``purchased`` maps product ids to the last purchase time (ms); ``scores`` holds model scores
    such as purchase propensity by name; ``segments`` the shopper's segment names.
    """

    placement: str
    now: datetime
    profile: ProfileState | None = None
    category: str | None = None
    product_id: str | None = None
    cart: tuple[str, ...] = ()
    query: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    segments: tuple[str, ...] = ()

    @property
    def now_ms(self) -> int:
        return int(self.now.timestamp() * 1000)

    def purchased_since(self, since_ms: int) -> set[str]:
        if self.profile is None:
            return set()
        return {entry[2] for entry in self.profile.purchased if entry[0] >= since_ms}

    def last_cart_ms(self) -> int | None:
        if self.profile is None or not self.profile.carted:
            return None
        return max(int(entry[0]) for entry in self.profile.carted)

    def orders(self) -> int:
        if self.profile is None:
            return 0
        return self.profile.counts.get(EventType.ORDER_COMPLETED, 0)

    def top_category(self) -> str | None:
        if self.profile is None or not self.profile.categories:
            return None
        return max(self.profile.categories.items(), key=lambda kv: (kv[1], kv[0]))[0]
