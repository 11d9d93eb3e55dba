"""The closed loop's inbox: shoppers who left a cart, the emails they get, and how they come back.

:class:`CartRecoverySimulator` is the :class:`~shopwise.simulate.TrafficSimulator` with a memory
of carts: a customer whose visit ends with products in the cart and no order leaves an
:class:`AbandonedCart` (the newest one is the open cart; any later order closes it). What happens
after is the simulator's **response model**, every probability of it in
:class:`EmailResponseConfig`, so a result built on it can say which numbers it put in:

- **organic return**: any customer who left a cart comes back on their own with
  ``organic_return_probability``, an exponential delay (mean ``organic_delay_hours``) after
  leaving, messaged or not; a shopper held out of a trigger can return only this way;
- **email click**: a delivered email (:meth:`~CartRecoverySimulator.receive`, parsed from what
  a local SMTP server got by :meth:`Email.parse`) is clicked with ``click_probability``, an
  exponential delay (mean ``click_delay_hours``) after delivery. The shopper follows the email's
  first tracked link: an ``email_clicked`` event and the landing page's ``product_viewed``, both
  carrying the link's ``recommendation_id``, in a context whose page URL and ``campaign`` hold
  the link's query and UTM parameters (what the browser SDK reads on landing);
- **the return visit**: the shopper finds the saved cart, sees the cart page's slot (and may
  click and add what it shows, as in any visit), and orders with ``buy_probability``, however they
  came; a visit without an order keeps the cart open for a later return.

A customer's visit times are given by the caller (:meth:`~CartRecoverySimulator.come_back` runs
the returns due by a time, in time order, each event stamped at its return's time), so a
benchmark can run the loop on its own clock. The model knows nothing of triggers, holdouts or the
store: whatever lift a run shows between messaged and held-out shoppers is this model's click
probability showing through, not an estimate of a real email's effect.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Final, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from shopwise.schema import EventType
from shopwise.simulate._choice import Storefront
from shopwise.simulate._closed_loop import TrafficSimulator, _Visit
from shopwise.simulate._config import SimulationConfig

HOUR_MS: Final = 3_600_000
RESPONSE_STREAM: Final = 0x6E
"""Spawn key of the response model's generator (apart from the visits' own draws)."""
_LINK: Final = re.compile(r"https?://[^\s<>\"')]+")
_UTM: Final = (("utm_source", "source"), ("utm_medium", "medium"), ("utm_campaign", "name"))

Via = Literal["email", "organic"]


class EmailResponseConfig(BaseModel):
    """How the simulated shoppers answer a cart-abandonment email (see the module docstring).

    These probabilities are the simulator's assumptions, not measurements: a run's messaged
    shoppers convert more than its held-out ones by exactly as much as they imply.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    click_probability: float = Field(default=0.15, ge=0.0, le=1.0)
    """Chance that a delivered email's tracked link is clicked."""
    click_delay_hours: float = Field(default=2.0, gt=0.0)
    """Mean hours from delivery to the click (exponential)."""
    organic_return_probability: float = Field(default=0.1, ge=0.0, le=1.0)
    """Chance that a customer who left a cart comes back on their own, messaged or not."""
    organic_delay_hours: float = Field(default=8.0, gt=0.0)
    """Mean hours from leaving the cart to the organic return (exponential)."""
    buy_probability: float = Field(default=0.4, ge=0.0, le=1.0)
    """Chance that a return visit (by the email or on their own) orders the saved cart."""


@dataclass(frozen=True)
class AbandonedCart:
    """A cart a customer left without ordering: its id, products (catalog index -> quantity)
    and when the visit ended (epoch ms)."""

    customer_id: str
    cart_id: str
    items: tuple[tuple[int, int], ...]
    left_at: int


@dataclass(frozen=True)
class Email:
    """An email as its recipient reads it: address, Message-ID, subject and the links of its
    plain-text part, in order."""

    to: str
    email_id: str
    subject: str
    links: tuple[str, ...]

    @classmethod
    def parse(cls, message: EmailMessage) -> Email:
        """The email a local SMTP server received (``email.message_from_bytes`` with the
        ``default`` policy)."""
        part = message.get_body(("plain",))
        text = part.get_content() if isinstance(part, EmailMessage) else ""
        return cls(
            to=parseaddr(str(message["To"]))[1],
            email_id=str(message["Message-ID"] or "").strip("<>"),
            subject=str(message["Subject"] or ""),
            links=tuple(_LINK.findall(text)),
        )


@dataclass(order=True, frozen=True)
class _Return:
    at: int
    seq: int
    customer_id: str = field(compare=False)
    via: Via = field(compare=False)
    link: str | None = field(default=None, compare=False)
    email_id: str | None = field(default=None, compare=False)


class CartRecoverySimulator(TrafficSimulator):
    """The traffic simulator with abandoned carts and the email response model.

    Parameters
    ----------
    client, shop, key
        As :class:`~shopwise.simulate.TrafficSimulator`.
    response
        The response model's probabilities and delays.
    seed
        Seed of the visits (as the traffic simulator's) and of the response model.
    **options
        The traffic simulator's other options (``rate``, ``new_share``, ``clock`` ...).
    """

    def __init__(
        self,
        client: httpx.Client,
        shop: SimulationConfig | Storefront,
        key: str,
        response: EmailResponseConfig | None = None,
        seed: int = 0,
        **options: Any,
    ) -> None:
        super().__init__(client, shop, key, seed=seed, **options)
        self.response = response if response is not None else EmailResponseConfig()
        self._respond = np.random.default_rng([seed, RESPONSE_STREAM])
        self._open: dict[str, AbandonedCart] = {}
        self._left: list[AbandonedCart] = []
        self._returns: list[_Return] = []
        self._seq = 0
        self._by_email = {c.email: c.customer_id for c in self.shop.customers}
        self.responses: Counter[str] = Counter()
        """Client-side counts of the response model (emails received, clicks, returns, orders):
        what the simulator did, never what a result is measured from."""

    # -- carts ------------------------------------------------------------------------------

    @property
    def abandoned(self) -> tuple[AbandonedCart, ...]:
        """Every cart left so far, oldest first."""
        return tuple(self._left)

    def open_cart(self, customer_id: str) -> AbandonedCart | None:
        """The customer's open cart (left and not ordered since), if any."""
        return self._open.get(customer_id)

    def _checkout(self, visit: _Visit) -> None:
        orders = self._counts["orders"]
        super()._checkout(visit)
        customer_id = visit.shopper.user_id
        if visit.cart and self._counts["orders"] == orders and customer_id is not None:
            self._leave(customer_id, visit)  # a new visitor (a guest) never comes back

    def _leave(self, customer_id: str, visit: _Visit) -> None:
        cart = AbandonedCart(customer_id, visit.cart_id, tuple(visit.cart.items()), visit.t)
        self._open[customer_id] = cart
        self._left.append(cart)
        self.responses["carts_left"] += 1
        if self._respond.random() < self.response.organic_return_probability:
            delay = self._delay(self.response.organic_delay_hours)
            self._plan(_Return(visit.t + delay, self._next(), customer_id, "organic"))

    def _order(self, visit: _Visit) -> None:
        super()._order(visit)
        if visit.shopper.user_id is not None:
            self._open.pop(visit.shopper.user_id, None)  # any order closes the open cart

    # -- the inbox --------------------------------------------------------------------------

    def receive(self, email: Email, at: int) -> bool:
        """``email`` reaches its recipient at ``at`` (epoch ms); whether they will click it
        (the click is a return visit, made by :meth:`come_back` when due)."""
        customer_id = self._by_email.get(email.to)
        if customer_id is None or not email.links:
            return False
        self.responses["emails_received"] += 1
        if self._respond.random() >= self.response.click_probability:
            return False
        delay = self._delay(self.response.click_delay_hours)
        link = email.links[0]
        self._plan(_Return(at + delay, self._next(), customer_id, "email", link, email.email_id))
        self.responses["clicks_planned"] += 1
        return True

    def next_return(self) -> int | None:
        """When the next planned return is due (epoch ms), or ``None``."""
        return self._returns[0].at if self._returns else None

    def come_back(self, until: int) -> int:
        """Make the return visits due by ``until`` (epoch ms), oldest first, each stamped at its
        own time, and send their events; the visits made (a return whose cart was ordered in
        the meantime is not made)."""
        made = 0
        while self._returns and self._returns[0].at <= until:
            made += self._return(heapq.heappop(self._returns))
        self.flush()
        return made

    def _return(self, planned: _Return) -> int:
        cart = self._open.get(planned.customer_id)
        shopper = self._shoppers.get(planned.customer_id)
        if cart is None or shopper is None:
            self.responses[f"{planned.via}_returns_skipped"] += 1
            return 0
        visit = self._start(shopper)
        visit.t = planned.at
        visit.cart, visit.cart_id = dict(cart.items), cart.cart_id
        if planned.link is not None:
            self._land(visit, planned.link, planned.email_id or "")
        self._page(visit, "/cart")
        self._show(visit, self._ask(visit, "cart"))
        self.responses[f"{planned.via}_returns"] += 1
        if self._respond.random() < self.response.buy_probability:
            self._order(visit)
            self.responses[f"{planned.via}_orders"] += 1
        else:
            self._open[planned.customer_id] = AbandonedCart(
                planned.customer_id, cart.cart_id, tuple(visit.cart.items()), visit.t
            )
        self._counts["visits"] += 1
        return 1

    def _land(self, visit: _Visit, link: str, email_id: str) -> None:
        """Follow a tracked link: ``email_clicked``, then the landing page's view."""
        parts = urlsplit(link)
        params = {k: v[0] for k, v in parse_qs(parts.query).items() if v}
        campaign = {name: params[utm] for utm, name in _UTM if utm in params}
        rid = params.get("recommendation_id")
        clicked: dict[str, Any] = {"email_id": email_id[:128] or "unknown", "url": link}
        if "utm_campaign" in params:
            clicked["campaign"] = params["utm_campaign"]
        if rid is not None:
            clicked["recommendation_id"] = rid
        item = self.shop.index.get(unquote(parts.path.rsplit("/", 1)[-1]))
        if item is not None:
            clicked["product_id"] = self.shop.catalog.ids[item]
        self._emit(visit, EventType.EMAIL_CLICKED, clicked, parts.path, parts.query, campaign)
        if item is None:
            self._emit(visit, EventType.PAGE_VIEWED, {}, parts.path, parts.query, campaign)
            return
        props = self._line(item)
        if rid is not None:
            props["recommendation_id"] = rid
        self._emit(visit, EventType.PRODUCT_VIEWED, props, parts.path, parts.query, campaign)
        self._show(visit, self._ask(visit, "product", product_id=self.shop.catalog.ids[item]))

    # -- drawing ----------------------------------------------------------------------------

    def _delay(self, mean_hours: float) -> int:
        return 1 + int(self._respond.exponential(mean_hours * HOUR_MS))

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _plan(self, planned: _Return) -> None:
        heapq.heappush(self._returns, planned)
