"""What decisions know about the shopper and the request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from shopwise.profiles import ProfileState
from shopwise.schema import EventType


@dataclass(frozen=True)
class Landing:
    """Where the visit came from, as the page reports it: the UTM parameters of its landing URL,
    the referring site's host and the device class. Lower-cased, so targeting matches any case."""

    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    referrer: str | None = None
    """The referring page's host name (``www.`` dropped), never its path or query."""
    device: str | None = None
    """``desktop``, ``mobile`` or ``tablet``."""

    @classmethod
    def of(
        cls,
        utm_source: str | None = None,
        utm_medium: str | None = None,
        utm_campaign: str | None = None,
        referrer: str | None = None,
        device: str | None = None,
    ) -> Landing:
        """A landing from raw values: a referrer URL or host is reduced to its host."""
        return cls(
            _lower(utm_source),
            _lower(utm_medium),
            _lower(utm_campaign),
            referrer_host(referrer),
            _lower(device),
        )


def _lower(value: str | None) -> str | None:
    value = (value or "").strip().lower()
    return value or None


def referrer_host(referrer: str | None) -> str | None:
    """The host of a referrer given as a URL or as a bare host, lower-cased, ``www.`` dropped."""
    text = (referrer or "").strip()
    if not text:
        return None
    host = urlsplit(text if "//" in text else f"//{text}").hostname
    if not host:
        return None
    return host.removeprefix("www.")


def device_of(user_agent: str | None) -> str | None:
    """The device class a ``User-Agent`` header names (``None`` without one)."""
    if not user_agent:
        return None
    if "iPad" in user_agent or "Tablet" in user_agent:
        return "tablet"
    if "Android" in user_agent and "Mobile" not in user_agent:
        return "tablet"
    if "Mobi" in user_agent or "iPhone" in user_agent:
        return "mobile"
    return "desktop"


@dataclass(frozen=True)
class ShopperContext:
    """The request and the shopper as rules see them.

    ``landing`` is where the visit came from (campaign, referrer, device); ``purchased`` maps
    product ids to the last purchase time (ms); ``scores`` holds model scores such as purchase
    propensity by name; ``segments`` the shopper's segment names.
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
    landing: Landing = Landing()

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
