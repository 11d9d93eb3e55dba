"""The visit model: turns one simulated customer into a stream of e-commerce events.

The customer's visits and mails come from :class:`SessionModel`. Inside a visit the customer lands
(from an email click, an ad or directly), browses one or more leaf categories chosen by taste
through search or category lists, views products drawn by their precomputed attractiveness, adds
some to the cart, goes on to look at products that go with them (the leaves paired in
``COMPLEMENT_PAIRS``), and either abandons the cart or logs in, checks out and orders. Orders may be
refunded or reviewed days later. Anonymous visitors log in mid-session with an ``identify`` event,
after which their events carry both ids; cookies are sometimes cleared, which gives a customer a
new anonymous id. Events are the plain dicts a client would POST, with the timestamp still in
epoch milliseconds; :func:`shopwise.simulate.simulate` sorts them and adds message ids and ISO
timestamps.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from shopwise.schema import EventType
from shopwise.simulate._customers import Customer, CustomerType, Device, new_anonymous_id
from shopwise.simulate._traffic import DAY_MS, HOUR_MS, Campaign, SessionModel

Record = tuple[int, int, int, dict[str, Any]]
"""(timestamp ms, customer index, sequence number, event) - the sort key and the event."""

_LIBRARY: Final = {"name": "shopwise-simulate", "version": "1"}
_TYPE_NAMES: Final = {kind: kind.value for kind in EventType}
_SHIPPING: Final = 4.95
_FREE_SHIPPING_FROM: Final = 50.0
_MAIL, _OWN_VISIT, _CLICK_VISIT = 0, 1, 2  # queue entry kinds; mails first at equal times
_COMPLEMENT_AFTER_ADD: Final = 0.5  # chance of looking for what goes with a product just added
_COMPLEMENT_AFTER_VIEW: Final = 0.12  # ... and with a product only viewed
_COMPLEMENT_CART_LIFT: Final = 1.0  # log-odds: a shopper completing a basket adds readily
POLICY_VERSION: Final = "2026-01"
"""The privacy-policy version the demo shop's consent banner shows."""


@dataclass
class _Visit:
    """Working state of one visit."""

    device: Device
    day: int
    sale: bool
    campaign: dict[str, str] | None
    cart_id: str
    cart: dict[int, tuple[int, float]] = field(default_factory=dict)
    coupon: bool = False


class _CustomerRun:
    """One customer's pass through the period (visits, emails, orders, refunds)."""

    def __init__(self, model: SessionModel, customer: Customer, rng: np.random.Generator) -> None:
        self.model = model
        self.cat = model.catalog
        self.config = model.config
        self.c = customer
        self.rng = rng
        self.side = rng.spawn(1)[0]
        """Draws of the complement looks (see :meth:`complement`); spawning leaves ``rng`` as is."""
        self.records: list[Record] = []
        self.t = 0
        self.orders = 0
        self.visits = 0
        self.view = {s: model.view_logits(customer, s) for s in (False, True)}
        stocked = np.array([m.size > 0 for m in model.catalog.leaf_members])
        self.taste = np.cumsum(customer.leaf_taste * stocked)
        self.gaps: list[int] = []
        self.gap_at = 0
        self.pools: dict[tuple[int, str | None, bool], tuple[Any, Any]] = {}
        self.cart_odds = {s: model.cart_logits(customer, s) for s in (False, True)}
        self.asked: set[str] = set()
        """Devices that have shown the consent banner."""

    def run(self) -> list[Record]:
        """Walk through the period in time order: mails can trigger visits, visits log in."""
        queue: list[tuple[int, int, int, Campaign | None]] = []
        for n, start in enumerate(self.model.visit_starts(self.c, self.rng)):
            queue.append((start, _OWN_VISIT, n, None))
        for n, mail in enumerate(self.model.campaigns):
            queue.append((mail.send_ms + int(self.rng.integers(0, HOUR_MS)), _MAIL, n, mail))
        heapq.heapify(queue)
        while queue:
            moment, kind, n, campaign = heapq.heappop(queue)
            if kind == _MAIL and campaign is not None:
                clicked = self.email(moment, campaign)
                if clicked is not None:
                    heapq.heappush(queue, (clicked, _CLICK_VISIT, n, campaign))
            else:
                self.visit(moment, campaign if kind == _CLICK_VISIT else None)
        return [r for r in self.records if r[0] < self.model.end_ms]

    # -- event construction ---------------------------------------------------------------

    def _gap(self) -> int:
        """Milliseconds between two clicks of a visit (drawn in blocks: this is the hot path)."""
        if self.gap_at == len(self.gaps):
            self.gaps = (1000 + self.rng.exponential(25_000, size=256)).astype(np.int64).tolist()
            self.gap_at = 0
        self.gap_at += 1
        return self.gaps[self.gap_at - 1]

    def _context(self) -> dict[str, Any]:
        """The context every event of the customer carries: locale, consent, library."""
        consent = self.c.consent
        return {
            "locale": self.c.locale,
            "consent": {"purposes": {**consent["purposes"]}, "do_not_sell": consent["do_not_sell"]},
            "library": {**_LIBRARY},
        }

    def banner(self, visit: _Visit) -> None:
        """The consent banner on a device's first visit: the customer's choices, as an explicit
        ``consent_updated`` event with the policy version, at the start of the visit."""
        device = visit.device
        if device.anonymous_id in self.asked:
            return
        self.asked.add(device.anonymous_id)
        context = self._context()
        context["consent"].update(policy_version=POLICY_VERSION, source="banner")
        event: dict[str, Any] = {
            "type": _TYPE_NAMES[EventType.CONSENT_UPDATED],
            "anonymous_id": device.anonymous_id,
            "timestamp": self.t,
            "context": context,
            "properties": {},
        }
        if device.logged_in:
            event["user_id"] = self.c.customer_id
        self.records.append((self.t, self.c.index, len(self.records), event))

    def emit(
        self,
        kind: EventType,
        properties: dict[str, Any],
        visit: _Visit | None = None,
        path: str | None = None,
        at: int | None = None,
    ) -> None:
        """Record one event; client events advance the visit clock by a few seconds."""
        context = self._context()
        event: dict[str, Any] = {"type": _TYPE_NAMES[kind]}
        if visit is None:
            moment = self.t if at is None else at
            event["user_id"] = self.c.customer_id
        else:
            self.t += self._gap()
            moment = self.t
            device = visit.device
            event["anonymous_id"] = device.anonymous_id
            if device.logged_in:
                event["user_id"] = self.c.customer_id
            path = path or "/"
            context["page"] = {"url": self.config.site_url + path, "path": path}
            context["user_agent"] = device.user_agent
            context["ip"] = device.ip
            if visit.campaign is not None:
                context["campaign"] = {**visit.campaign}
        event["timestamp"] = moment
        event["context"] = context
        event["properties"] = properties
        self.records.append((moment, self.c.index, len(self.records), event))

    def _line(self, item: int, price: float, quantity: int = 1) -> dict[str, Any]:
        return {
            "product_id": self.cat.ids[item],
            "price": price,
            "quantity": quantity,
            "category": self.model.item_label[item],
            "brand": self.model.item_brand[item],
        }

    # -- email ----------------------------------------------------------------------------

    def email(self, moment: int, campaign: Campaign) -> int | None:
        """Send one campaign mail; returns the click time when the customer clicks through."""
        if not self.c.known or not self.c.consent["purposes"]["marketing"]:
            return None
        params = self.c.params
        day = (moment - self.model.start_ms) // DAY_MS
        lapsed = self.c.active_until_day is not None and day > self.c.active_until_day
        props = {"email_id": campaign.email_id, "campaign": campaign.name}
        self.emit(EventType.EMAIL_SENT, dict(props), at=moment)
        open_p = params.email_open * (0.3 if lapsed else 1.0) * (1.2 if campaign.sale else 1.0)
        if self.rng.random() >= open_p:
            return None
        opened = moment + int(self.rng.exponential(3 * HOUR_MS))
        self.emit(EventType.EMAIL_OPENED, dict(props), at=opened)
        click_p = 0.0 if lapsed else params.email_click * (1.5 if campaign.sale else 1.0)
        if self.rng.random() >= click_p:
            return None
        clicked = opened + 5000 + int(self.rng.exponential(60_000))
        url = f"{self.config.site_url}/{'sale' if campaign.sale else 'new'}?utm_source=newsletter"
        self.emit(EventType.EMAIL_CLICKED, {**props, "url": url}, at=clicked)
        return clicked

    # -- visits ---------------------------------------------------------------------------

    def _device(self) -> Device:
        c = self.c
        index = int(self.rng.choice(len(c.devices), p=c.device_weights))
        device = c.devices[index]
        if self.rng.random() < 0.03:  # cookies cleared: a new anonymous id, logged out
            device.anonymous_id = new_anonymous_id(self.rng)
            device.logged_in = False
        elif device.logged_in and self.rng.random() < 0.08:  # session expired
            device.logged_in = False
        if device.anonymous_id not in c.anonymous_ids:
            c.anonymous_ids.append(device.anonymous_id)
        return device

    def visit(self, moment: int, campaign: Campaign | None) -> None:
        """Simulate one visit starting at ``moment`` (from an email click when ``campaign``)."""
        day = (moment - self.model.start_ms) // DAY_MS
        if day >= self.config.days:
            return
        self.t = moment
        self.visits += 1
        device = self._device()
        utm = None
        if campaign is not None:
            utm = {"source": "newsletter", "medium": "email", "name": campaign.email_id}
        elif self.rng.random() < 0.12:
            utm = {"source": "search-ads", "medium": "cpc", "name": "brand-search"}
        visit = _Visit(
            device=device,
            day=int(day),
            sale=bool(self.model.sale_mask[day]),
            campaign=utm,
            cart_id=f"cart-{device.anonymous_id[:12]}-{self.visits}",
            coupon=campaign is not None and self.rng.random() < 0.4,
        )
        landing = "/sale" if visit.sale and self.rng.random() < 0.5 else "/"
        self.banner(visit)
        self.emit(EventType.PAGE_VIEWED, {}, visit, landing)
        if not device.logged_in and self.rng.random() < self.c.params.login_early:
            self.login(visit)
        self.promotion(visit)
        for _ in range(1 + int(self.rng.poisson(0.4))):
            self.browse(visit)
        self.finish(visit)

    def login(self, visit: _Visit) -> None:
        """Log in on this device: an identify event carrying both ids and the traits."""
        visit.device.logged_in = True
        self.c.known = True
        traits = {"email": self.c.email, "name": self.c.name}
        self.emit(EventType.IDENTIFY, {"traits": traits}, visit, "/login")

    def promotion(self, visit: _Visit) -> None:
        if visit.sale and self.rng.random() < 0.6:
            promo = {"promotion_id": "sale-banner", "name": "Seasonal sale", "position": "home-top"}
        elif self.rng.random() < 0.1:
            promo = {"promotion_id": "free-shipping", "name": "Free shipping from 50"}
        else:
            return
        self.emit(EventType.PROMOTION_VIEWED, dict(promo), visit, "/")
        if self.rng.random() < 0.25:
            self.emit(EventType.PROMOTION_CLICKED, dict(promo), visit, "/")

    def _pick_leaf(self) -> int:
        """A browsing intent: a leaf drawn by taste among the leaves that have products."""
        pos = int(self.taste.searchsorted(self.rng.random() * self.taste[-1], side="right"))
        return min(pos, self.taste.size - 1)

    def _pick_item(self, leaf: int, noun: str | None, visit: _Visit) -> int | None:
        """Draw a viewed product by this customer's view weights (rejecting unlaunched items)."""
        key = (leaf, noun, visit.sale)
        cached = self.pools.get(key)
        if cached is None:
            members = (
                self.cat.leaf_members[leaf] if noun is None else self.model.noun_members[leaf, noun]
            )
            if members.size == 0:
                members = self.cat.leaf_members[leaf]
            logits = self.view[visit.sale][members]
            cached = (members, np.exp(logits - logits.max()).cumsum())
            self.pools[key] = cached
        members, cumulative = cached
        for _ in range(4):
            pos = int(cumulative.searchsorted(self.rng.random() * cumulative[-1]))
            item = int(members[min(pos, members.size - 1)])
            if self.cat.created_day[item] <= visit.day:
                return item
        return None

    def _shown(self, ranked: np.ndarray[Any, Any], visit: _Visit) -> list[dict[str, Any]]:
        """The first page of a product list: launched products by popularity."""
        shown = ranked[self.cat.created_day[ranked] <= visit.day][:8]
        prices = self.model.sale_price if visit.sale else self.cat.price
        ids = self.cat.ids
        return [
            {"product_id": ids[i], "price": float(prices[i]), "position": p}
            for p, i in enumerate(shown.tolist())
        ]

    def browse(self, visit: _Visit) -> None:
        """One browsing intent: a search or a category page, then product views and carts."""
        leaf = self._pick_leaf()
        spec = self.cat.leaves[leaf]
        noun: str | None = None
        if self.rng.random() < 0.35:
            noun = str(spec.nouns[int(self.rng.integers(len(spec.nouns)))])
            query = noun
            if self.rng.random() < 0.4:
                query = f"{spec.features[int(self.rng.integers(len(spec.features)))]} {noun}"
            path = f"/search?q={query.replace(' ', '+')}"
            self.emit(EventType.PRODUCTS_SEARCHED, {"query": query}, visit, path)
            ranked = self.model.noun_members[leaf, noun]
            ranked = ranked[np.argsort(-self.cat.popularity[ranked], kind="stable")]
            props: dict[str, Any] = {"list_id": "search", "products": self._shown(ranked, visit)}
            self.emit(EventType.PRODUCT_LIST_VIEWED, props, visit, path)
        else:
            slug, label = self.model.leaf_slug[leaf], self.model.leaf_label[leaf]
            path = f"/c/{slug}"
            shown = self._shown(self.model.by_popularity[leaf], visit)
            props = {"list_id": slug, "category": label, "products": shown}
            self.emit(EventType.PRODUCT_LIST_VIEWED, props, visit, path)
            if self.rng.random() < 0.15:
                cap = f"0-{round(spec.median_price * self.c.budget * 1.3)}"
                props = {"filters": [{"type": "price", "value": cap}], "list_id": slug}
                self.emit(EventType.PRODUCT_LIST_FILTERED, props, visit, path)
        for _ in range(int(self.rng.geometric(1.0 / self.c.params.views_per_intent))):
            item = self._pick_item(leaf, noun if self.rng.random() < 0.7 else None, visit)
            if item is not None:
                self.view_item(item, visit)

    def view_item(self, item: int, visit: _Visit, follow: bool = True) -> None:
        """A product view, sometimes followed by wishlist, share or add to cart and, when
        ``follow``, by a look at a product that goes with it."""
        price = self.cat.effective_price(item, visit.sale)
        line = self._line(item, price)
        del line["quantity"]
        path = f"/p/{self.cat.ids[item]}"
        self.emit(EventType.PRODUCT_VIEWED, line, visit, path)
        draw = self.rng.random()
        if draw < 0.03:
            self.emit(EventType.WISHLIST_ADDED, dict(line), visit, path)
        elif draw < 0.04:
            self.emit(EventType.PRODUCT_SHARED, {**line, "share_via": "link"}, visit, path)
        added = self.add_to_cart(item, price, visit, path, 0.0 if follow else _COMPLEMENT_CART_LIFT)
        if follow:
            self.complement(item, visit, added)

    def add_to_cart(self, item: int, price: float, visit: _Visit, path: str, lift: float) -> bool:
        """Put a viewed product in the cart with the customer's odds raised by ``lift``;
        whether it went in."""
        sold_out = self.cat.sold_out_day[item] <= visit.day
        odds = self.cart_odds[visit.sale][item] + lift
        if sold_out or self.rng.random() >= 1.0 / (1.0 + math.exp(-odds)):
            return False
        quantity = 2 if self.rng.random() < 0.08 else 1
        held, _ = visit.cart.get(item, (0, price))
        visit.cart[item] = (held + quantity, price)
        props = {**self._line(item, price, quantity), "cart_id": visit.cart_id}
        self.emit(EventType.PRODUCT_ADDED, props, visit, path)
        return True

    def complement(self, item: int, visit: _Visit, added: bool) -> None:
        """Sometimes look at a product that goes with ``item`` (more often once it is in the
        cart): a product of a complementary leaf, drawn by the customer's view weights."""
        mates = self.model.complement_leaves[int(self.cat.leaf[item])]
        chance = _COMPLEMENT_AFTER_ADD if added else _COMPLEMENT_AFTER_VIEW
        if mates.size == 0 or self.side.random() >= chance:
            return
        with self._aside():
            leaf = int(mates[int(self.rng.integers(mates.size))])
            mate = self._pick_item(leaf, None, visit)
            if mate is not None:
                self.view_item(mate, visit, follow=False)

    @contextmanager
    def _aside(self) -> Iterator[None]:
        """Draw from the side stream (click gaps included) inside the block.

        Every other draw of the customer then stays what it was before complement looks
        existed, so adding them did not re-deal the rest of a seeded shop: its visits, the
        products browsed by taste, cart and checkout decisions.
        """
        main, gaps, gap_at = self.rng, self.gaps, self.gap_at
        self.rng, self.gaps, self.gap_at = self.side, [], 0
        try:
            yield
        finally:
            self.rng, self.gaps, self.gap_at = main, gaps, gap_at

    def _cart_lines(self, visit: _Visit) -> list[dict[str, Any]]:
        return [self._line(i, p, q) for i, (q, p) in visit.cart.items()]

    def finish(self, visit: _Visit) -> None:
        """Cart review, removal, checkout and order - or an abandoned cart."""
        if not visit.cart:
            return
        if len(visit.cart) > 1 and self.rng.random() < 0.15:
            item = next(iter(visit.cart))
            quantity, price = visit.cart.pop(item)
            props = {**self._line(item, price, quantity), "cart_id": visit.cart_id}
            self.emit(EventType.PRODUCT_REMOVED, props, visit, "/cart")
        if self.rng.random() < 0.6:
            self.emit(
                EventType.CART_VIEWED,
                {"cart_id": visit.cart_id, "products": self._cart_lines(visit)},
                visit,
                "/cart",
            )
        checkout = self.c.params.checkout_prob
        if visit.sale:
            checkout *= 1.8 if self.c.customer_type is CustomerType.BARGAIN_HUNTER else 1.2
        if self.rng.random() >= min(0.95, checkout):
            return  # abandoned cart
        if not visit.device.logged_in:
            self.login(visit)
        lines = self._cart_lines(visit)
        self.emit(
            EventType.CHECKOUT_STARTED,
            {"cart_id": visit.cart_id, "products": lines},
            visit,
            "/checkout",
        )
        if self.rng.random() < 0.8:
            self.order(visit, lines)

    def order(self, visit: _Visit, lines: list[dict[str, Any]]) -> None:
        """Complete the order; schedule a refund and a review with some probability."""
        self.orders += 1
        order_id = f"ord-{self.c.index + 1:06d}-{self.orders:03d}"
        subtotal = round(sum(line["price"] * line["quantity"] for line in lines), 2)
        markdown = sum((float(self.cat.price[i]) - p) * q for i, (q, p) in visit.cart.items())
        coupon = round(0.1 * subtotal, 2) if visit.coupon else 0.0
        props: dict[str, Any] = {
            "order_id": order_id,
            "products": lines,
            "revenue": round(subtotal - coupon, 2),
            "currency": self.config.currency,
            "discount": round(markdown + coupon, 2),
            "shipping": 0.0 if subtotal >= _FREE_SHIPPING_FROM else _SHIPPING,
        }
        if visit.coupon:
            props["coupon"] = "NEWS10"
        self.emit(EventType.ORDER_COMPLETED, props, visit, "/checkout/complete")
        refund_p = self.config.refund_rate * self.c.params.refund_factor
        if self.rng.random() < refund_p:
            at = self.t + int(self.rng.uniform(2, 20) * DAY_MS)
            refund = {
                "order_id": order_id,
                "revenue": props["revenue"],
                "currency": self.config.currency,
                "products": [dict(line) for line in lines],
                "reason": str(self.rng.choice(["damaged", "wrong size", "changed mind"])),
            }
            self.emit(EventType.ORDER_REFUNDED, refund, at=at)
        elif self.rng.random() < 0.1:
            item = next(iter(visit.cart))
            rating = float(
                np.clip(round(3.8 + 0.8 * self.cat.quality[item] + self.rng.normal(0, 0.7)), 1, 5)
            )
            at = self.t + int(self.rng.uniform(4, 25) * DAY_MS)
            self.emit(
                EventType.PRODUCT_REVIEWED,
                {"product_id": self.cat.ids[item], "rating": rating},
                at=at,
            )


def customer_events(
    model: SessionModel, customer: Customer, rng: np.random.Generator
) -> list[Record]:
    """All events of ``customer`` over the period, unsorted, with timestamps in ms."""
    return _CustomerRun(model, customer, rng).run()
