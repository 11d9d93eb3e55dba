"""Content decisions: banners, triggered messages and page layout, declared in YAML.

A content block is shown in its placements when its audience conditions hold and, if it has a
threshold, when the named model score reaches it (for example a discount only when purchase
propensity is at least 0.8). Among eligible blocks of one kind the highest ``priority`` wins, so a
cart-abandonment message beats a generic one. Layouts order a placement's page sections: sections
tied to a category rise with the shopper's affinity for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from shopwise.decide._context import Landing, ShopperContext, referrer_host


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _host(value: str) -> str:
    host = referrer_host(value)
    if host is None:
        raise ValueError(f"not a host name: {value!r}")
    return host


Lowered = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(str.lower)]
"""A campaign, source or medium name; matched in lower case, as landings are reported."""
Host = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_host)]
"""A referring site's host (a URL is reduced to its host)."""


class Audience(_Config):
    """Who a block is for; all given conditions must hold."""

    cart_abandoned_minutes: int | None = Field(default=None, ge=1)
    """Carted at least this many minutes ago with no order since (and at most 7 days ago)."""
    min_orders: int | None = Field(default=None, ge=0)
    max_orders: int | None = Field(default=None, ge=0)
    top_category: str | None = None
    segments: list[str] | None = None
    """The shopper is in any of these segments."""
    utm_campaign: list[Lowered] | None = None
    """The visit landed from any of these campaigns (``utm_campaign``, any case)."""
    utm_source: list[Lowered] | None = None
    """... from any of these sources (``utm_source``: ``newsletter``, ``google``)."""
    utm_medium: list[Lowered] | None = None
    """... through any of these media (``utm_medium``: ``email``, ``cpc``, ``social``)."""
    referrer: list[Host] | None = None
    """... referred by any of these sites: a host matches itself and its subdomains
    (``instagram.com`` matches ``l.instagram.com``)."""
    device: list[Literal["desktop", "mobile", "tablet"]] | None = None
    """... on any of these device classes."""

    def reasons(self, ctx: ShopperContext) -> list[str] | None:
        """Why the audience matches (reason codes), or ``None`` when it does not."""
        reasons = self._landing(ctx.landing)
        if reasons is None:
            return None
        if self.cart_abandoned_minutes is not None:
            if not _abandoned(ctx, self.cart_abandoned_minutes):
                return None
            reasons.append("cart_abandoned")
        orders = ctx.orders()
        if self.min_orders is not None and orders < self.min_orders:
            return None
        if self.max_orders is not None and orders > self.max_orders:
            return None
        if self.top_category is not None:
            if ctx.top_category() != self.top_category:
                return None
            reasons.append(f"affinity:{self.top_category}")
        if self.segments is not None:
            shared = sorted(set(self.segments) & set(ctx.segments))
            if not shared:
                return None
            reasons.append(f"segment:{shared[0]}")
        return reasons

    def _landing(self, landing: Landing) -> list[str] | None:
        """The landing conditions' reason codes, or ``None`` when one does not hold."""
        reasons: list[str] = []
        wanted = (
            ("campaign", self.utm_campaign, landing.utm_campaign),
            ("source", self.utm_source, landing.utm_source),
            ("medium", self.utm_medium, landing.utm_medium),
            ("device", self.device, landing.device),
        )
        for code, allowed, value in wanted:
            if allowed is None:
                continue
            if value is None or value not in allowed:
                return None
            reasons.append(f"{code}:{value}")
        if self.referrer is not None:
            host = landing.referrer
            if host is None or not any(host == h or host.endswith(f".{h}") for h in self.referrer):
                return None
            reasons.append(f"referrer:{host}")
        return reasons


def _abandoned(ctx: ShopperContext, minutes: int) -> bool:
    last_cart = ctx.last_cart_ms()
    if last_cart is None or ctx.profile is None:
        return False
    age = ctx.now_ms - last_cart
    ordered_after = ctx.profile.last_order_at is not None and ctx.profile.last_order_at >= last_cart
    return minutes * 60_000 <= age <= 7 * 86_400_000 and not ordered_after


class Threshold(_Config):
    score: Annotated[str, Field(min_length=1)]
    """A score name from the shopper's model scores (e.g. ``purchase_7d``)."""
    min: float = Field(ge=0, le=1)


class ContentBlock(_Config):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Literal["banner", "message"]
    placements: list[str] | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    priority: int = 0
    audience: Audience | None = None
    threshold: Threshold | None = None
    content: dict[str, Any] = Field(default_factory=dict)
    """What the shop renders: title, body, image_url, cta_url, discount code..."""

    def eligible(self, ctx: ShopperContext) -> list[str] | None:
        """Reason codes when the block may be shown in this context, else ``None``."""
        if self.placements is not None and ctx.placement not in self.placements:
            return None
        if not _in_window(self.start, self.end, ctx.now):
            return None
        reasons = [f"block:{self.name}"]
        if self.audience is not None:
            matched = self.audience.reasons(ctx)
            if matched is None:
                return None
            reasons += matched
        if self.threshold is not None:
            value = ctx.scores.get(self.threshold.score)
            if value is None or value < self.threshold.min:
                return None
            reasons.append(f"{self.threshold.score}>={self.threshold.min:g}")
        return reasons


def _in_window(start: datetime | None, end: datetime | None, now: datetime) -> bool:
    return (start is None or start <= now) and (end is None or now < end)


class Section(_Config):
    name: Annotated[str, Field(min_length=1)]
    category: str | None = None
    """Sections tied to a category rise with the shopper's affinity for it."""
    weight: float = 1.0
    """Base weight; higher comes first."""
    audience: Audience | None = None
    """Shown only to this audience (a campaign's hero for its visitors, say)."""


class ContentSet(_Config):
    blocks: list[ContentBlock] = Field(default_factory=list)
    layouts: dict[str, list[Section]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique(self) -> ContentSet:
        names = [b.name for b in self.blocks]
        if len(names) != len(set(names)):
            raise ValueError("block names must be unique")
        return self

    def pick(self, ctx: ShopperContext, kind: str) -> tuple[ContentBlock, list[str]] | None:
        """The highest-priority eligible block of ``kind`` (ties: declaration order)."""
        ranked = sorted((b for b in self.blocks if b.kind == kind), key=lambda b: -b.priority)
        for block in ranked:
            reasons = block.eligible(ctx)
            if reasons is not None:
                return block, reasons
        return None

    def layout(self, ctx: ShopperContext) -> list[dict[str, Any]]:
        """The placement's sections for this shopper (a targeted one only when its audience
        matches: its reason is the audience's first reason code), ordered by weight boosted by
        category affinity."""
        targeted: dict[str, str] = {}
        sections = []
        for section in self.layouts.get(ctx.placement, []):
            matched = section.audience.reasons(ctx) if section.audience is not None else []
            if matched is None:
                continue
            if section.audience is not None:
                targeted[section.name] = matched[0] if matched else "targeted"
            sections.append(section)
        categories = ctx.profile.categories if ctx.profile else {}
        total = sum(categories.values()) or 1.0

        def weight(section: Section) -> float:
            if section.category is None:
                return section.weight
            share = sum(w for c, w in categories.items() if section.category in c.split(" > "))
            return section.weight * (1.0 + 2.0 * share / total)

        def reason(section: Section) -> str:
            if section.name in targeted:
                return targeted[section.name]
            boosted = section.category and weight(section) > section.weight
            return "affinity" if boosted else "default"

        ordered = sorted(enumerate(sections), key=lambda s: (-weight(s[1]), s[0]))
        return [{"name": s.name, "reason": reason(s)} for _, s in ordered]
