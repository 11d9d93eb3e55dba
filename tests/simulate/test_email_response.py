"""The closed loop's email response model: carts left, emails read, returns made.

Against the fake shopwise of the closed-loop tests (``httpx.MockTransport``): customers leave
carts, a delivered email is clicked at the configured rate, a click comes back through the
email's tracked link (``email_clicked`` and the landing view carrying its ``recommendation_id``,
the UTM parameters in the context) on the caller's clock, and a return orders the saved cart.
"""

from __future__ import annotations

import time
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import httpx
import pydantic
import pytest
from tests.simulate.test_closed_loop import FakeShopwise
from tests.simulate.test_simulator import assert_valid

from shopwise.journeys import tracked
from shopwise.simulate import SimulationConfig, Storefront
from shopwise.simulate._email import (
    HOUR_MS,
    CartRecoverySimulator,
    Email,
    EmailResponseConfig,
)

RID = "0190000000000000000000000000aaaa"


@pytest.fixture(scope="module")
def front() -> Storefront:
    return Storefront(SimulationConfig.quick(seed=7))


def _sim(
    front: Storefront, response: EmailResponseConfig, seed: int = 5
) -> tuple[FakeShopwise, CartRecoverySimulator]:
    server = FakeShopwise(front, split=False)
    client = httpx.Client(transport=httpx.MockTransport(server.handle), base_url="http://shop")
    sim = CartRecoverySimulator(client, front, "sk", response, seed=seed, new_share=0.0)
    return server, sim


def _email(front: Storefront, to: str, product_id: str) -> Email:
    """An email as the SMTP channel builds it, parsed back as the local server hands it over."""
    site = front.config.site_url
    link = tracked(f"{site}/products/{product_id}", RID, "cart_abandonment", "email")
    message = EmailMessage(policy=default)
    message["To"], message["Subject"] = to, "You left something in your cart"
    message["Message-ID"] = "<abc123@shop.example>"
    message.set_content(f"Hi,\n\n- A product (9.99 EUR): {link}\n\nVisit the shop: {site}/?x=1\n")
    message.add_alternative(f'<a href="{link}">A product</a>', subtype="html")
    return Email.parse(message_from_bytes(message.as_bytes(), policy=default))  # type: ignore[arg-type]


def _stamp(event: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(event["timestamp"]).timestamp() * 1000)


def test_the_response_model_is_a_config_that_refuses_nonsense() -> None:
    config = EmailResponseConfig(click_probability=0.3, buy_probability=0.5)
    assert EmailResponseConfig.model_validate(config.model_dump()) == config
    with pytest.raises(pydantic.ValidationError):
        EmailResponseConfig(click_probability=1.5)
    with pytest.raises(pydantic.ValidationError):
        EmailResponseConfig(organic_delay_hours=0)
    with pytest.raises(pydantic.ValidationError):
        EmailResponseConfig.model_validate({"open_probability": 0.2})


def test_an_email_is_read_from_its_plain_text_part(front: Storefront) -> None:
    email = _email(front, "ada@example.com", "p1")
    assert email.to == "ada@example.com"
    assert email.email_id == "abc123@shop.example"
    assert email.links[0].startswith(f"{front.config.site_url}/products/p1?")
    assert "recommendation_id=" + RID in email.links[0]
    assert len(email.links) == 2  # the product, then the shop; the HTML part is not read twice


def test_customers_leave_carts_and_an_order_closes_them(front: Storefront) -> None:
    server, sim = _sim(front, EmailResponseConfig(organic_return_probability=0.0))
    sim.run(visits=300)
    left = sim.abandoned
    assert len(left) > 10
    customers = {c.customer_id for c in front.customers}
    assert all(cart.customer_id in customers and cart.items for cart in left)
    for cart in left:
        assert all(q > 0 and 0 <= i < len(front.catalog.ids) for i, q in cart.items)
    newest = {cart.customer_id: cart for cart in left}
    ordered = {
        e["user_id"]: _stamp(e) for e in server.events if e["type"] == "order_completed"
    }  # the last order of each customer (events are in time order)
    closed = 0
    for customer_id, cart in newest.items():
        if ordered.get(customer_id, 0) > cart.left_at:
            assert sim.open_cart(customer_id) is None
            closed += 1
        else:
            assert sim.open_cart(customer_id) == cart
    assert 0 < closed < len(newest)
    assert sim.next_return() is None  # no organic returns planned, no emails received


def test_a_clicked_email_comes_back_through_its_tracked_link_and_buys(
    front: Storefront,
) -> None:
    response = EmailResponseConfig(
        click_probability=1.0, buy_probability=1.0, organic_return_probability=0.0
    )
    server, sim = _sim(front, response)
    sim.run(visits=200)
    cart = sim.abandoned[-1]
    customer = next(c for c in front.customers if c.customer_id == cart.customer_id)
    product_id = front.catalog.ids[cart.items[0][0]]
    later = int(time.time() * 1000) + 3 * HOUR_MS  # the caller's clock, hours ahead
    assert sim.receive(_email(front, customer.email, product_id), later)
    due = sim.next_return()
    assert due is not None and due > later
    sent = len(server.events)
    assert sim.come_back(due - 1) == 0 and len(server.events) == sent  # not yet due
    assert sim.come_back(due) == 1
    events = server.events[sent:]
    for event in events:
        assert_valid(event)
        assert _stamp(event) >= due
    kinds = [e["type"] for e in events]
    assert kinds[0] == "email_clicked"
    clicked, landed = events[0], events[1]
    assert clicked["properties"]["recommendation_id"] == RID
    assert clicked["properties"]["email_id"] == "abc123@shop.example"
    assert clicked["properties"]["campaign"] == "cart_abandonment"
    assert clicked["context"]["campaign"] == {
        "source": "shopwise",
        "medium": "email",
        "name": "cart_abandonment",
    }
    assert landed["type"] == "product_viewed"
    assert landed["properties"]["product_id"] == product_id
    assert landed["properties"]["recommendation_id"] == RID
    assert "recommendation_id=" in landed["context"]["page"]["url"]
    order = next(e for e in events if e["type"] == "order_completed")
    bought = {line["product_id"] for line in order["properties"]["products"]}
    assert {front.catalog.ids[i] for i, _ in cart.items} <= bought
    assert order["user_id"] == customer.customer_id
    assert sim.open_cart(customer.customer_id) is None
    assert sim.responses["email_orders"] == 1


def test_an_email_to_no_customer_or_without_links_is_not_clicked(front: Storefront) -> None:
    _, sim = _sim(front, EmailResponseConfig(click_probability=1.0))
    assert not sim.receive(_email(front, "stranger@example.com", "p1"), 0)
    customer = front.customers[0]
    assert not sim.receive(Email(customer.email, "x", "s", ()), 0)
    assert sim.next_return() is None


def test_clicks_follow_the_click_probability(front: Storefront) -> None:
    _, sim = _sim(front, EmailResponseConfig(click_probability=0.3))
    email = _email(front, front.customers[0].email, front.catalog.ids[0])
    clicks = sum(sim.receive(email, 0) for _ in range(4000))
    assert abs(clicks / 4000 - 0.3) < 0.03  # about 4 standard errors
    assert sim.responses["emails_received"] == 4000


def test_organic_returns_come_whether_messaged_or_not_and_may_not_buy(
    front: Storefront,
) -> None:
    response = EmailResponseConfig(
        click_probability=0.0, organic_return_probability=1.0, buy_probability=0.0
    )
    server, sim = _sim(front, response)
    sim.run(visits=200)
    left = sim.abandoned
    assert left and sim.next_return() is not None
    sent = len(server.events)
    made = sim.come_back(int(time.time() * 1000) + 1000 * HOUR_MS)
    assert made > 0 and sim.next_return() is None
    assert made + sim.responses["organic_returns_skipped"] == len(left)  # skipped: ordered since
    events = server.events[sent:]
    assert not any(e["type"] in ("email_clicked", "order_completed") for e in events)
    assert sim.responses["organic_returns"] == made
