"""The closed loop: simulated shoppers browse a running shopwise and act on its live answers.

:class:`TrafficSimulator` sends the shop's customers (and a share of new visitors) to a shopwise
server over HTTP only, as a shop's pages and a browser would: a visit lands on the home page (one
``/v1/decide`` call: products and banner), a category or a product page (``/v1/recommendations``),
browses products of the shopper's own choosing (organic views, which keep the model learning, each
product page asking for its slot), sees the cart's slot when the cart holds something and may
check out. Shown products and banners are clicked, added and bought by the hidden tastes of
:class:`~shopwise.simulate._choice.Storefront`, so a recommender that finds those tastes earns
more. Events go to ``POST /v1/events`` in batches: ``product_viewed`` (with the answer's
``recommendation_id`` when a shown product was clicked), ``product_added``, ``promotion_viewed``
and ``promotion_clicked`` for a banner, ``identify`` when a customer logs in to check out, and
``order_completed``. Serving logs its own exposures, so none are sent.

The simulator keeps what each experiment variant got, as the shoppers saw it
(:class:`TrafficSummary`), under the attribution rules of :mod:`shopwise.kpis` (one click and one
add per answer and product, each order line to the shopper's last click on its product within the
window): the ground truth the server's KPIs and experiment results are checked against. Given
the seed and the answers, every choice is the same; message and order ids are fresh each run, so
a rerun is not taken for a duplicate.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import httpx
import numpy as np

from shopwise.errors import (
    AuthError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    ShopwiseError,
    Unavailable,
)
from shopwise.schema import EventType, Purpose, served_at
from shopwise.settings import Settings
from shopwise.simulate._choice import Storefront
from shopwise.simulate._config import SimulationConfig
from shopwise.simulate._customers import Customer, Device
from shopwise.simulate._loop_summary import Group, Tally, TrafficSummary

LIBRARY: Final = {"name": "shopwise-traffic", "version": "1"}
LIST_LENGTH: Final = 8
"""Products asked for per slot."""
EVENT_BATCH: Final = 200
"""Events per ``POST /v1/events`` (the collector takes up to 500)."""
FLUSH_SECONDS: Final = 1.0
"""In a timed run, events wait at most this long before they are sent."""
WINDOW_HOURS: Final[int] = Settings.model_fields["attribution_window_hours"].default
"""The server's default attribution window, in hours."""
NEW_SHARE: Final = 0.2
"""Default share of visits by shoppers the shop has never seen."""
_LANDINGS: Final = ("home", "category", "product")
_LANDING_P: Final = (0.4, 0.35, 0.25)
_MIN_VISIT_RATE: Final = 0.02
"""Relative visit rate of customers whose type has none of its own (one-off customers)."""
_STATUS_ERRORS: Final[dict[int, type[ShopwiseError]]] = {
    400: InvalidInput,
    401: AuthError,
    403: Forbidden,
    404: NotFound,
    429: RateLimited,
    503: Unavailable,
}


@dataclass
class _Shopper:
    key: str
    """The unit the simulator counts: the customer id, or a new visitor's cookie id."""
    customer: Customer
    user_id: str | None
    """The id a customer logs in with; ``None`` for a new visitor (a guest)."""
    last_click: dict[str, tuple[Group, int]] = field(default_factory=dict)
    """Per product id, the group and time of the shopper's last click on it."""
    logged_in: set[str] = field(default_factory=set)
    """Cookie ids of the devices the shopper logged in on here (the shop's truth is not changed)."""

    @property
    def measured(self) -> bool:
        """Whether the shopper's consent lets their behaviour be measured (as the server's)."""
        return bool(self.customer.consent["purposes"].get(Purpose.ANALYTICS.value, True))


@dataclass
class _Visit:
    shopper: _Shopper
    device: Device
    user_id: str | None
    cart_id: str
    t: int = 0
    """The visit's clock (epoch ms): every event a millisecond or more after the one before."""
    cart: dict[int, int] = field(default_factory=dict)
    groups: set[Group] = field(default_factory=set)
    banner_clicked: bool = False


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _checked(response: httpx.Response) -> Any:
    """The JSON body of a successful response; a shopwise error named by the status otherwise."""
    if response.is_success:
        return response.json()
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    request = response.request
    error = _STATUS_ERRORS.get(response.status_code, ShopwiseError)
    raise error(f"{request.method} {request.url.path} answered {response.status_code}: {message}")


class TrafficSimulator:
    """Simulated shoppers of a simulated shop, browsing a live shopwise (see module docstring).

    Parameters
    ----------
    client
        An HTTP client whose base URL is the shopwise server (a ``fastapi.testclient.TestClient``
        in tests).
    shop
        The config the served shop was simulated from, or its :class:`Storefront`.
    key
        An API key that may write events and read recommendations for any shopper (a secret
        key: customers are asked for by ``user_id``).
    rate
        Visits per second in a timed run (Poisson arrivals).
    seed
        Seed of every choice the shoppers make.
    new_share
        Share of visits by new visitors (anonymous guests with tastes of their own).
    clock, sleep
        Monotonic seconds and a way to wait (a timed run's pace; tests pass a fake clock).
    window_hours
        The server's attribution window (``SHOPWISE_ATTRIBUTION_WINDOW_HOURS``): an order line
        counts for a click at most this long before it in the ground truth.
    """

    def __init__(
        self,
        client: httpx.Client,
        shop: SimulationConfig | Storefront,
        key: str,
        rate: float = 1.0,
        seed: int = 0,
        new_share: float = NEW_SHARE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        window_hours: int = WINDOW_HOURS,
    ) -> None:
        if not rate > 0:
            raise InvalidInput(f"rate must be positive, got {rate}")
        if not 0.0 <= new_share <= 1.0:
            raise InvalidInput(f"new_share must be between 0 and 1, got {new_share}")
        self.client = client
        self.shop = shop if isinstance(shop, Storefront) else Storefront(shop)
        self.rate = rate
        self.new_share = new_share
        self._clock, self._sleep = clock, sleep
        self._window_ms = window_hours * 3_600_000
        self._headers = {"Authorization": f"Bearer {key}"}
        self._rng, self._arrivals = np.random.default_rng(seed).spawn(2)
        weight = np.array(
            [max(c.params.sessions_per_day, _MIN_VISIT_RATE) for c in self.shop.customers]
        )
        self._customer_p = weight / weight.sum()
        self._shoppers: dict[str, _Shopper] = {}
        self._tallies: dict[Group, Tally] = {}
        self._pending: list[dict[str, Any]] = []
        self._flushed_at = clock()
        self._counts = {"visits": 0, "events": 0, "accepted": 0, "duplicates": 0, "orders": 0}
        self._revenue = 0.0
        self._rejections: list[dict[str, Any]] = []

    # -- running ----------------------------------------------------------------------------

    def run(
        self,
        minutes: float | None = None,
        visits: int | None = None,
        progress: Callable[[int, float], None] | None = None,
    ) -> TrafficSummary:
        """Simulate traffic: for ``minutes`` of real time at :attr:`rate` visits a second, or
        ``visits`` visits one after the other; exactly one of them.

        ``progress`` is called after every visit with the visits made in this run and the share
        of the run done. Returns the summary of everything simulated so far (all runs).
        """
        if (minutes is None) == (visits is None):
            raise InvalidInput("give exactly one of minutes and visits")
        if minutes is not None and not minutes > 0:
            raise InvalidInput(f"minutes must be positive, got {minutes}")
        if visits is not None and visits < 0:
            raise InvalidInput(f"visits must not be negative, got {visits}")
        if visits is not None:
            for done in range(1, visits + 1):
                self.visit()
                self._flush(timed=False)
                if progress is not None:
                    progress(done, done / visits)
        else:
            self._timed(60.0 * float(minutes or 0), progress)
        self.flush()
        return self.summary()

    def _timed(self, seconds: float, progress: Callable[[int, float], None] | None) -> None:
        start = self._clock()
        end = start + seconds
        due = start + float(self._arrivals.exponential(1.0 / self.rate))
        done = 0
        while due < end and self._clock() < end:  # a slow server shortens the run, not delays it
            wait = due - self._clock()
            if wait > 0:
                self._flush(timed=True)
                self._sleep(wait)
            self.visit()
            self._flush(timed=True)
            done += 1
            if progress is not None:
                progress(done, min(1.0, (self._clock() - start) / seconds))
            due += float(self._arrivals.exponential(1.0 / self.rate))
        if progress is not None:
            progress(done, 1.0)

    def check(self) -> None:
        """Reach the server and have it accept the key for events (an empty batch), or raise."""
        _checked(self.client.post("/v1/events", json={"batch": []}, headers=self._headers))

    def summary(self) -> TrafficSummary:
        """What was simulated so far (events still unsent are counted once sent)."""
        return TrafficSummary(
            visits=self._counts["visits"],
            events=self._counts["events"],
            accepted=self._counts["accepted"],
            duplicates=self._counts["duplicates"],
            rejected=len(self._rejections),
            rejections=tuple(self._rejections[:10]),
            orders=self._counts["orders"],
            revenue=round(self._revenue, 2),
            variants=tuple(tally.summary(group) for group, tally in self._tallies.items()),
        )

    def flush(self) -> None:
        """Send the events not sent yet, in batches."""
        while self._pending:
            batch, self._pending = self._pending[:EVENT_BATCH], self._pending[EVENT_BATCH:]
            response = self.client.post("/v1/events", json={"batch": batch}, headers=self._headers)
            result = _checked(response)
            self._counts["events"] += len(batch)
            self._counts["accepted"] += int(result["accepted"])
            self._counts["duplicates"] += int(result["duplicates"])
            self._rejections += result["rejected"]
        self._flushed_at = self._clock()

    def _flush(self, timed: bool) -> None:
        late = timed and self._clock() - self._flushed_at >= FLUSH_SECONDS
        if len(self._pending) >= EVENT_BATCH or (late and self._pending):
            self.flush()

    # -- one visit --------------------------------------------------------------------------

    def visit(self) -> None:
        """One visit of one shopper (events are queued; :meth:`flush` sends them)."""
        rng = self._rng
        visit = self._start(self._shopper())
        landing = _LANDINGS[int(rng.choice(len(_LANDINGS), p=_LANDING_P))]
        customer = visit.shopper.customer
        if landing == "home":
            self._page(visit, "/")
            self._show(visit, self._ask(visit, "home"))
        elif landing == "category":
            leaf = self.shop.catalog.leaves[self.shop.pick_leaf(customer, rng)]
            self._page(visit, f"/c/{leaf.slug}")
            self._show(visit, self._ask(visit, "category", category=leaf.label))
        else:
            self._browse(visit, 1)
        self._browse(visit, int(rng.poisson(0.6)))
        if visit.cart:
            self._page(visit, "/cart")
            self._show(visit, self._ask(visit, "cart"))
        self._checkout(visit)
        self._counts["visits"] += 1

    def _shopper(self) -> _Shopper:
        rng = self._rng
        if rng.random() < self.new_share:
            customer = self.shop.new_visitor(rng)
            return _Shopper(customer.devices[0].anonymous_id, customer, None)
        customer = self.shop.customers[int(rng.choice(len(self._customer_p), p=self._customer_p))]
        shopper = self._shoppers.get(customer.customer_id)
        if shopper is None:
            shopper = _Shopper(customer.customer_id, customer, customer.customer_id)
            self._shoppers[customer.customer_id] = shopper
        return shopper

    def _start(self, shopper: _Shopper) -> _Visit:
        customer = shopper.customer
        device = customer.devices[0]
        if shopper.user_id is not None:  # a new visitor keeps to the device it came with
            picked = self._rng.choice(len(customer.devices), p=customer.device_weights)
            device = customer.devices[int(picked)]
        known = device.logged_in or device.anonymous_id in shopper.logged_in
        user_id = shopper.user_id if known else None
        cart_id = f"cart-{uuid.uuid4().hex[:16]}"
        return _Visit(shopper=shopper, device=device, user_id=user_id, cart_id=cart_id)

    def _browse(self, visit: _Visit, intents: int) -> None:
        """Browse ``intents`` categories of the shopper's choosing: a few product pages each,
        every page asking for its slot."""
        shop, rng, customer = self.shop, self._rng, visit.shopper.customer
        for _ in range(intents):
            leaf = shop.pick_leaf(customer, rng)
            for _ in range(1 + int(rng.poisson(0.5))):
                item = shop.pick_product(customer, leaf, rng)
                self._look(visit, item, None, None)
                self._show(visit, self._ask(visit, "product", product_id=shop.catalog.ids[item]))

    # -- answers ----------------------------------------------------------------------------

    def _ask(self, visit: _Visit, placement: str, **context: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "placement": placement,
            "n": LIST_LENGTH,
            "anonymous_id": visit.device.anonymous_id,
            **context,
        }
        if visit.user_id is not None:
            params["user_id"] = visit.user_id
        if visit.cart:
            params["cart"] = [self.shop.catalog.ids[i] for i in visit.cart]
        path = "/v1/decide" if placement == "home" else "/v1/recommendations"
        answer: dict[str, Any] = _checked(
            self.client.get(path, params=params, headers=self._headers)
        )
        return answer

    def _tally(self, visit: _Visit, group: Group) -> Tally | None:
        """The group's tally, counting the visit and the shopper in it; ``None`` when the
        shopper is not measured."""
        if not visit.shopper.measured:
            return None
        tally = self._tallies.setdefault(group, Tally())
        if group not in visit.groups:
            visit.groups.add(group)
            tally.visits += 1
            tally.visitors.add(visit.shopper.key)
        return tally

    def _show(self, visit: _Visit, answer: dict[str, Any]) -> None:
        """The shopper sees an answer (one with products): its banner, then its products."""
        index = self.shop.index
        shown = [
            index[item["product_id"]] for item in answer["items"] if item["product_id"] in index
        ]
        if not shown:
            return  # nothing to show: serving logs no exposure either
        experiment = answer.get("experiment") or {}
        group: Group = (experiment.get("id"), experiment.get("variant"))
        tally = self._tally(visit, group)
        rid = str(answer["recommendation_id"])
        visit.t = max(visit.t, served_at(rid) or 0)
        banner = answer.get("banner")
        if banner is not None:
            self._banner(visit, str(banner["name"]), rid, tally)
        if tally is not None:
            tally.impressions += 1
            tally.items_shown += len(shown)
        items = np.asarray(shown, dtype=np.int64)
        chance = self.shop.click_probability(visit.shopper.customer, items)
        clicked = self._rng.random(items.size) < chance
        for position in np.flatnonzero(clicked).tolist():
            if tally is not None:
                tally.clicks += 1
            added = self._look(visit, int(items[position]), rid, position)
            if added and tally is not None:
                tally.adds += 1
            visit.shopper.last_click[self.shop.catalog.ids[int(items[position])]] = (group, visit.t)

    def _banner(self, visit: _Visit, name: str, rid: str, tally: Tally | None) -> None:
        props = {"promotion_id": name, "name": name, "recommendation_id": rid}
        self._emit(visit, EventType.PROMOTION_VIEWED, props, "/")
        if tally is not None:
            tally.banner_views += 1
        if self._rng.random() < self.shop.banner_probability(name):
            self._emit(visit, EventType.PROMOTION_CLICKED, dict(props), "/")
            visit.banner_clicked = True
            if tally is not None:
                tally.banner_clicks += 1
                tally.clicks += 1

    # -- events -----------------------------------------------------------------------------

    def _line(self, item: int) -> dict[str, Any]:
        row = self.shop.catalog.rows[item]
        return {
            "product_id": row["id"],
            "price": row["price"],
            "category": " > ".join(row["category"]),
            "brand": row["brand"],
        }

    def _look(self, visit: _Visit, item: int, rid: str | None, position: int | None) -> bool:
        """A product page (from an answer when ``rid``), perhaps an add to cart; whether added."""
        props = self._line(item)
        path = f"/p/{props['product_id']}"
        if rid is not None:
            props.update(recommendation_id=rid, position=position)
        self._emit(visit, EventType.PRODUCT_VIEWED, props, path)
        customer = visit.shopper.customer
        chance = self.shop.cart_probability(customer, np.asarray([item], dtype=np.int64))[0]
        if self._rng.random() >= chance:
            return False
        visit.cart[item] = visit.cart.get(item, 0) + 1
        added = {**props, "quantity": 1, "cart_id": visit.cart_id}
        added.pop("position", None)
        self._emit(visit, EventType.PRODUCT_ADDED, added, path)
        return True

    def _page(self, visit: _Visit, path: str) -> None:
        self._emit(visit, EventType.PAGE_VIEWED, {}, path)

    def _emit(
        self,
        visit: _Visit,
        kind: EventType,
        props: dict[str, Any],
        path: str,
        query: str = "",
        campaign: dict[str, str] | None = None,
    ) -> None:
        """Queue one event of the visit (``query`` and ``campaign``: a landing from a tracked
        link, its query string and UTM parameters, as the browser SDK reads them)."""
        visit.t = max(visit.t + 1, int(time.time() * 1000))
        customer, device = visit.shopper.customer, visit.device
        site = self.shop.config.site_url
        url = site + path + (f"?{query}" if query else "")
        event: dict[str, Any] = {
            "message_id": str(uuid.uuid4()),
            "type": kind.value,
            "anonymous_id": device.anonymous_id,
            "timestamp": _iso(visit.t),
            "context": {
                "page": {"url": url, "path": path},
                "user_agent": device.user_agent,
                "ip": device.ip,
                "locale": customer.locale,
                "consent": {
                    "purposes": {**customer.consent["purposes"]},
                    "do_not_sell": customer.consent["do_not_sell"],
                },
                "library": {**LIBRARY},
            },
            "properties": props,
        }
        if campaign is not None:
            event["context"]["campaign"] = dict(campaign)
        if visit.user_id is not None:
            event["user_id"] = visit.user_id
        self._pending.append(event)

    def _checkout(self, visit: _Visit) -> None:
        """Check out the cart with the shopper type's odds (higher after a banner click); a
        customer logs in first, a new visitor orders as a guest."""
        if not visit.cart:
            return
        customer = visit.shopper.customer
        lift = 1.5 if visit.banner_clicked else 1.0
        if self._rng.random() >= min(0.95, customer.params.checkout_prob * lift):
            return
        self._order(visit)

    def _order(self, visit: _Visit) -> None:
        """Order the cart: a customer logs in first, a new visitor orders as a guest."""
        customer = visit.shopper.customer
        if visit.user_id is None and visit.shopper.user_id is not None:
            visit.user_id = visit.shopper.user_id
            visit.shopper.logged_in.add(visit.device.anonymous_id)
            traits = {"email": customer.email, "name": customer.name}
            self._emit(visit, EventType.IDENTIFY, {"traits": traits}, "/login")
        lines = [{**self._line(i), "quantity": q} for i, q in visit.cart.items()]
        revenue = round(sum(line["price"] * line["quantity"] for line in lines), 2)
        props = {
            "order_id": f"ord-sim-{uuid.uuid4().hex[:16]}",
            "products": lines,
            "revenue": revenue,
            "currency": self.shop.config.currency,
        }
        self._emit(visit, EventType.ORDER_COMPLETED, props, "/checkout/complete")
        self._counts["orders"] += 1
        self._revenue += revenue
        if visit.shopper.measured:
            self._attribute(visit, lines)

    def _attribute(self, visit: _Visit, lines: list[dict[str, Any]]) -> None:
        """Each line to the shopper's last click on its product within the window; the order
        counts once for every group that got a line."""
        got: dict[Group, float] = {}
        for line in lines:
            click = visit.shopper.last_click.get(line["product_id"])
            if click is not None and visit.t - click[1] <= self._window_ms:
                got[click[0]] = got.get(click[0], 0.0) + line["price"] * line["quantity"]
        for group, amount in got.items():
            tally = self._tallies[group]
            tally.orders += 1
            tally.revenue += amount
