"""The demo shop simulator: valid events, reproducibility, catalog rows, identity, orders, load."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import shopwise.simulate as sim
from shopwise import schema
from shopwise.errors import InvalidInput
from shopwise.simulate import (
    CATEGORY_SEPARATOR,
    DEPARTMENTS,
    CustomerType,
    SimulatedShop,
    SimulationConfig,
    load,
    simulate,
)

CATALOG_KEYS = {
    "id",
    "title",
    "description",
    "category",
    "brand",
    "price",
    "sale_price",
    "currency",
    "stock",
    "tags",
    "image_url",
    "created_at",
    "attributes",
}


def assert_valid(event: dict[str, Any]) -> None:
    """What the collector checks: the envelope, the properties of the type, JSON-ability."""
    envelope = schema.Envelope.model_validate(event)
    model = schema.properties_model(event["type"])
    assert model is not None, event["type"]
    model.model_validate(event["properties"])
    assert envelope.anonymous_id or envelope.user_id
    assert envelope.timestamp.utcoffset() is not None
    assert json.loads(json.dumps(event)) == event


def test_public_names() -> None:
    assert set(sim.__all__) == {
        "BATCH_SIZE",
        "CATEGORY_SEPARATOR",
        "COMPLEMENT_PAIRS",
        "DEPARTMENTS",
        "CustomerTruth",
        "CustomerType",
        "LoadResult",
        "Loadable",
        "ShopTruth",
        "SimulatedShop",
        "SimulationConfig",
        "Storefront",
        "TrafficSimulator",
        "TrafficSummary",
        "VariantSummary",
        "load",
        "simulate",
        "summarize",
    }
    assert all(hasattr(sim, name) for name in sim.__all__)


def test_config_round_trips_and_rejects_unknown_fields() -> None:
    config = SimulationConfig.quick(seed=3)
    assert SimulationConfig.model_validate(config.model_dump()) == config
    with pytest.raises(ValidationError):
        SimulationConfig.model_validate({"seed": 1, "n_shops": 2})
    with pytest.raises(ValidationError, match="sale window"):
        SimulationConfig(days=10, sale_start_day=8, sale_days=5)


def test_quick_preset_size(quick_shop: SimulatedShop) -> None:
    assert len(quick_shop.products) == 200
    assert len(quick_shop.customers) == 500
    days = {e["timestamp"][:10] for e in quick_shop.events}
    assert len(days) == 14


def test_every_event_is_valid(quick_shop: SimulatedShop) -> None:
    for event in quick_shop.events:
        assert_valid(event)


def test_events_sorted_with_unique_message_ids(quick_shop: SimulatedShop) -> None:
    moments = [datetime.fromisoformat(e["timestamp"]) for e in quick_shop.events]
    assert moments == sorted(moments)
    ids = [e["message_id"] for e in quick_shop.events]
    assert len(set(ids)) == len(ids)


def test_every_event_type_of_a_shop_occurs(quick_shop: SimulatedShop) -> None:
    kinds = {e["type"] for e in quick_shop.events}
    expected = {t.value for t in schema.EventType} - {
        "recommendation_viewed",
        "recommendation_clicked",
        "alias",
        "page_ping",  # the JS SDK's activity timer; the simulator's dwell is in its timestamps
    }
    # reviews and refunds are rare in 14 days; the full shop has them (see the slow test)
    assert expected - kinds <= {"product_reviewed", "order_refunded"}


def test_same_seed_same_shop() -> None:
    first = simulate(SimulationConfig.quick(seed=5))
    again = simulate(SimulationConfig.quick(seed=5))
    other = simulate(SimulationConfig.quick(seed=6))
    assert first.events == again.events
    assert first.products == again.products
    assert first.customers == again.customers
    assert first.events != other.events
    assert {e["message_id"] for e in first.events}.isdisjoint(e["message_id"] for e in other.events)


def test_catalog_rows(quick_shop: SimulatedShop) -> None:
    leaves = {leaf.path: leaf for dept in DEPARTMENTS for leaf in dept.leaves}
    assert 38 <= len(leaves) <= 50
    assert len(DEPARTMENTS) == 6
    for row in quick_shop.products:
        assert set(row) == CATALOG_KEYS
        leaf = leaves[tuple(row["category"])]
        assert row["currency"] == "EUR"
        assert row["price"] > 0
        assert row["sale_price"] is None or 0 < row["sale_price"] < row["price"]
        assert row["stock"] >= 0
        assert datetime.fromisoformat(row["created_at"]).utcoffset() is not None
        assert row["attributes"]["product_type"] in leaf.nouns
        assert row["attributes"]["product_type"].lower() in row["title"].lower()
        assert row["brand"] in row["title"]
    assert sum(row["stock"] == 0 for row in quick_shop.products) > 0
    assert sum(row["sale_price"] is not None for row in quick_shop.products) > 20
    assert len({row["id"] for row in quick_shop.products}) == len(quick_shop.products)


def test_product_events_refer_to_launched_catalog_products(quick_shop: SimulatedShop) -> None:
    launched = {
        row["id"]: datetime.fromisoformat(row["created_at"]).date() for row in quick_shop.products
    }
    seen = 0
    for event in quick_shop.events:
        product = event["properties"].get("product_id")
        if product is None or event["type"] == "product_reviewed":
            continue
        seen += 1
        assert datetime.fromisoformat(event["timestamp"]).date() >= launched[product]
    assert seen > 1000


def test_category_and_brand_of_events_match_catalog(quick_shop: SimulatedShop) -> None:
    rows = {row["id"]: row for row in quick_shop.products}
    for event in quick_shop.events:
        if event["type"] != "product_viewed":
            continue
        row = rows[event["properties"]["product_id"]]
        assert event["properties"]["category"] == CATEGORY_SEPARATOR.join(row["category"])
        assert event["properties"]["brand"] == row["brand"]
        assert event["properties"]["price"] in (row["price"], row["sale_price"])


def test_search_queries_use_category_words(quick_shop: SimulatedShop) -> None:
    vocabulary = {
        word
        for dept in DEPARTMENTS
        for leaf in dept.leaves
        for phrase in leaf.nouns + leaf.features
        for word in phrase.split()
    }
    queries = [
        e["properties"]["query"] for e in quick_shop.events if e["type"] == "products_searched"
    ]
    assert len(queries) > 100
    assert all(set(q.split()) <= vocabulary for q in queries)


def test_identity_ground_truth(quick_shop: SimulatedShop) -> None:
    owner = quick_shop.truth.owner_of_anonymous_id
    customers = quick_shop.truth.customers
    for event in quick_shop.events:
        anonymous, user = event.get("anonymous_id"), event.get("user_id")
        if anonymous is not None:
            assert anonymous in owner
            if user is not None:
                assert owner[anonymous] == user
        if event["type"] == "identify":
            truth = customers[event["user_id"]]
            assert anonymous is not None
            assert event["properties"]["traits"] == {"email": truth.email, "name": truth.name}
    # identity stitching has work to do: anonymous events that only a later identify resolves
    first_identified: dict[str, str] = {}
    for event in quick_shop.events:
        if event["type"] == "identify":
            first_identified.setdefault(event["anonymous_id"], event["timestamp"])
    anonymous_before_login = [
        e
        for e in quick_shop.events
        if "user_id" not in e
        and e.get("anonymous_id") in first_identified
        and e["timestamp"] < first_identified[e["anonymous_id"]]
    ]
    assert len(anonymous_before_login) > 100
    several = sum(len(c.anonymous_ids) > 1 for c in quick_shop.customers)
    assert several > 20


def test_orders_are_consistent(quick_shop: SimulatedShop) -> None:
    orders = [e for e in quick_shop.events if e["type"] == "order_completed"]
    assert len(orders) > 30
    assert len({o["properties"]["order_id"] for o in orders}) == len(orders)
    for order in orders:
        props = order["properties"]
        subtotal = sum(line["price"] * line["quantity"] for line in props["products"])
        coupon = round(0.1 * round(subtotal, 2), 2) if props.get("coupon") else 0.0
        assert props["revenue"] == pytest.approx(subtotal - coupon, abs=0.011)
        assert props["discount"] >= coupon - 1e-9
        assert props["currency"] == "EUR"
        assert "user_id" in order


def test_refunds_follow_their_orders() -> None:
    shop = simulate(SimulationConfig.quick(seed=2).model_copy(update={"refund_rate": 0.5}))
    placed = {e["properties"]["order_id"]: e for e in shop.events if e["type"] == "order_completed"}
    refunds = [e for e in shop.events if e["type"] == "order_refunded"]
    assert len(refunds) > 10
    for refund in refunds:
        order = placed[refund["properties"]["order_id"]]
        assert refund["timestamp"] > order["timestamp"]
        assert refund["user_id"] == order["user_id"]
        assert refund["properties"]["revenue"] == order["properties"]["revenue"]


def test_consent_on_every_event(quick_shop: SimulatedShop) -> None:
    consent_of = {c.customer_id: c.consent for c in quick_shop.customers}
    choosable = {p.value for p in schema.Purpose} - {schema.Purpose.NECESSARY}
    for event in quick_shop.events:
        consent = event["context"]["consent"]
        assert set(consent["purposes"]) == choosable
        owner = (
            event.get("user_id") or quick_shop.truth.owner_of_anonymous_id[event["anonymous_id"]]
        )
        choices = {k: v for k, v in consent.items() if k not in ("policy_version", "source")}
        assert choices == consent_of[owner]
    refusing = sum(not c.consent["purposes"]["personalization"] for c in quick_shop.customers)
    assert 0.05 <= refusing / len(quick_shop.customers) <= 0.16
    assert any(c.consent["do_not_sell"] for c in quick_shop.customers)
    mailed = {e["user_id"] for e in quick_shop.events if e["type"] == "email_sent"}
    assert mailed
    assert all(consent_of[user]["purposes"]["marketing"] for user in mailed)


def test_each_device_answers_the_consent_banner_on_its_first_visit(
    quick_shop: SimulatedShop,
) -> None:
    first: dict[str, dict[str, Any]] = {}
    for event in sorted(quick_shop.events, key=lambda e: e["timestamp"]):
        if event.get("anonymous_id") is not None:
            first.setdefault(event["anonymous_id"], event)
    assert first
    for event in first.values():
        assert event["type"] == "consent_updated"
        assert event["context"]["consent"]["source"] == "banner"
        assert event["context"]["consent"]["policy_version"]


def test_emails_are_sent_before_they_are_opened_and_clicked(quick_shop: SimulatedShop) -> None:
    sent: dict[tuple[str, str], str] = {}
    opened: dict[tuple[str, str], str] = {}
    for event in quick_shop.events:
        key = (event.get("user_id", ""), event["properties"].get("email_id"))
        if event["type"] == "email_sent":
            sent[key] = event["timestamp"]
        elif event["type"] == "email_opened":
            assert sent[key] <= event["timestamp"]
            opened[key] = event["timestamp"]
        elif event["type"] == "email_clicked":
            assert opened[key] <= event["timestamp"]


def test_funnel(quick_shop: SimulatedShop) -> None:
    count = Counter(e["type"] for e in quick_shop.events)
    assert count["product_viewed"] > count["product_added"] > count["checkout_started"]
    assert count["checkout_started"] > count["order_completed"] > 0
    # carts that never reach an order: abandoned carts exist
    carts = {e["properties"]["cart_id"] for e in quick_shop.events if e["type"] == "product_added"}
    assert len(carts) > count["order_completed"] * 1.5


def test_truth_helpers(quick_shop: SimulatedShop) -> None:
    truth = quick_shop.truth
    customer = quick_shop.customers[0]
    favourites = truth.favourite_categories(customer.customer_id, k=3)
    assert len(favourites) == 3
    weights = [customer.category_taste[f] for f in favourites]
    assert weights == sorted(weights, reverse=True)
    assert max(customer.category_taste.values()) == weights[0]
    assert sum(customer.category_taste.values()) == pytest.approx(1.0)
    by_type = [truth.customers_of_type(kind) for kind in sim.CustomerType]
    assert sum(len(ids) for ids in by_type) == len(quick_shop.customers)
    assert all(by_type)
    assert set(truth.product_category) == {row["id"] for row in quick_shop.products}


def test_load_batches_products_then_events(quick_shop: SimulatedShop) -> None:
    calls: list[tuple[str, int]] = []
    received: list[dict[str, Any]] = []
    progress: list[tuple[int, int]] = []

    def upsert(rows: list[dict[str, Any]]) -> None:
        calls.append(("products", len(rows)))

    def ingest(batch: list[dict[str, Any]]) -> dict[str, int]:
        calls.append(("events", len(batch)))
        received.extend(batch)
        return {"accepted": len(batch)}

    result = load(quick_shop, ingest, upsert, progress=lambda d, t: progress.append((d, t)))
    assert received == quick_shop.events
    kinds = [kind for kind, _ in calls]
    assert kinds == sorted(kinds, key=lambda k: k != "products")
    assert max(size for _, size in calls) <= 500
    assert result.events == len(quick_shop.events)
    assert result.products == len(quick_shop.products)
    assert result.batches == len(calls) == len(progress)
    assert all(r == {"accepted": n} for r, (_, n) in zip(result.responses, calls[1:], strict=True))
    done = [d for d, _ in progress]
    assert done == sorted(done)
    assert progress[-1] == (result.products + result.events,) * 2
    with pytest.raises(InvalidInput):
        load(quick_shop, ingest, upsert, batch_size=501)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    n_products=st.integers(10, 80),
    n_customers=st.integers(1, 25),
    days=st.integers(1, 12),
    sale=st.booleans(),
    start=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
)
def test_any_small_shop_is_valid(
    seed: int, n_products: int, n_customers: int, days: int, sale: bool, start: date
) -> None:
    config = SimulationConfig(
        seed=seed,
        n_products=n_products,
        n_customers=n_customers,
        days=days,
        start=start,
        sale_start_day=days // 2 if sale else None,
        sale_days=max(1, days - days // 2 - 1) if sale else 1,
    )
    shop = simulate(config)
    products = {row["id"] for row in shop.products}
    assert len(products) == n_products
    last = None
    for event in shop.events:
        assert_valid(event)
        moment = datetime.fromisoformat(event["timestamp"])
        assert start <= moment.date() < date.fromordinal(start.toordinal() + days)
        assert last is None or last <= moment
        last = moment
        for line in event["properties"].get("products", []):
            assert line["product_id"] in products
    if not sale:
        assert all(row["sale_price"] is None for row in shop.products)


def test_by_type_behaviour_differs(medium_shop: SimulatedShop) -> None:
    """Loyal high spenders order more and dearer; bargain hunters buy marked-down items."""
    kind_of = {c.customer_id: c.customer_type for c in medium_shop.customers}
    orders: Counter[CustomerType] = Counter()
    markdown: defaultdict[CustomerType, list[bool]] = defaultdict(list)
    paid: defaultdict[CustomerType, list[float]] = defaultdict(list)
    rows = {row["id"]: row for row in medium_shop.products}
    for event in medium_shop.events:
        if event["type"] == "order_completed":
            kind = kind_of[event["user_id"]]
            orders[kind] += 1
            for line in event["properties"]["products"]:
                markdown[kind].append(line["price"] < rows[line["product_id"]]["price"])
                paid[kind].append(line["price"])
    size = Counter(kind_of.values())
    per_customer = {kind: orders[kind] / size[kind] for kind in size}
    loyal, hunter = CustomerType.LOYAL_HIGH_SPENDER, CustomerType.BARGAIN_HUNTER
    assert per_customer[loyal] > 2 * per_customer[CustomerType.BROWSER]
    assert np.mean(markdown[hunter]) > np.mean(markdown[loyal])
    assert np.mean(paid[loyal]) > 1.2 * np.mean(paid[hunter])


def test_tastes_are_recoverable_from_views(medium_shop: SimulatedShop) -> None:
    """The department a customer views most is their strongest department in the ground truth."""
    department = {row["id"]: row["category"][0] for row in medium_shop.products}
    views: defaultdict[str, Counter[str]] = defaultdict(Counter)
    owner = medium_shop.truth.owner_of_anonymous_id
    for event in medium_shop.events:
        if event["type"] == "product_viewed":
            who = event.get("user_id") or owner[event["anonymous_id"]]
            views[who][department[event["properties"]["product_id"]]] += 1
    active = [cid for cid, seen in views.items() if sum(seen.values()) >= 20]
    assert len(active) > 200

    def departments(cid: str) -> list[str]:
        return medium_shop.truth.customers[cid].favourite_departments(6)

    def strongest_mass(cid: str) -> float:
        taste = medium_shop.truth.customers[cid].category_taste
        top = departments(cid)[0]
        return sum(w for leaf, w in taste.items() if leaf.startswith(top + CATEGORY_SEPARATOR))

    most_viewed = {cid: views[cid].most_common(1)[0][0] for cid in active}
    # a random guess is right 1 time in 6 (top one) or 2 in 6 (top two)
    top_two = sum(most_viewed[cid] in departments(cid)[:2] for cid in active)
    assert top_two / len(active) > 0.85
    clear = [cid for cid in active if strongest_mass(cid) >= 0.5]
    assert len(clear) > 100
    hits = sum(most_viewed[cid] == departments(cid)[0] for cid in clear)
    assert hits / len(clear) > 0.75


def test_view_distribution_is_what_views_are_drawn_from(medium_shop: SimulatedShop) -> None:
    owner = medium_shop.truth.owner_of_anonymous_id
    views: defaultdict[str, list[str]] = defaultdict(list)
    for event in medium_shop.events:
        if event["type"] == "product_viewed":
            who = event.get("user_id") or owner[event["anonymous_id"]]
            views[who].append(event["properties"]["product_id"])
    active = sorted(cid for cid, seen in views.items() if len(seen) >= 30)
    assert len(active) > 100
    better, captured = [], []
    for k, cid in enumerate(active):
        mine = medium_shop.truth.view_distribution(cid)
        assert sum(mine.values()) == pytest.approx(1.0)
        other = medium_shop.truth.view_distribution(active[(k + 1) % len(active)])
        own_fit = np.mean([np.log(mine[item]) for item in views[cid]])
        other_fit = np.mean([np.log(other[item]) for item in views[cid]])
        better.append(own_fit > other_fit)
        top = set(sorted(mine, key=mine.__getitem__, reverse=True)[:20])  # 5% of the catalog
        captured.append(np.mean([item in top for item in views[cid]]))
    # a customer's own truth explains their views better than somebody else's
    assert np.mean(better) > 0.95
    assert np.mean(captured) > 0.35


def _daily_visits(shop: SimulatedShop) -> dict[date, int]:
    days: Counter[date] = Counter()
    for event in shop.events:
        if event["type"] == "page_viewed":
            days[datetime.fromisoformat(event["timestamp"]).date()] += 1
    return dict(days)


def test_weekend_traffic_beats_weekdays(medium_shop: SimulatedShop) -> None:
    visits = _daily_visits(medium_shop)
    sale = medium_shop.truth.sale_window
    assert sale is not None
    outside = {d: n for d, n in visits.items() if not sale[0] <= d.isoformat() <= sale[1]}
    weekend = [n for d, n in outside.items() if d.weekday() >= 5]
    weekday = [n for d, n in outside.items() if d.weekday() < 5]
    assert len(weekend) == 6
    weekday_mean = sum(weekday) / len(weekday)
    assert sum(weekend) / len(weekend) > 1.25 * weekday_mean
    assert min(weekend) > weekday_mean


def test_sale_lifts_traffic_and_bargain_hunter_conversion(medium_shop: SimulatedShop) -> None:
    visits = _daily_visits(medium_shop)
    sale = medium_shop.truth.sale_window
    assert sale is not None
    during = [n for d, n in visits.items() if sale[0] <= d.isoformat() <= sale[1]]
    before = [n for d, n in visits.items() if d.isoformat() < sale[0]]
    assert len(during) == 7
    assert sum(during) / len(during) > 1.3 * sum(before) / len(before)

    hunters = set(medium_shop.truth.customers_of_type("bargain_hunter"))
    owner = medium_shop.truth.owner_of_anonymous_id
    counts: Counter[tuple[bool, str]] = Counter()
    for event in medium_shop.events:
        if event["type"] not in ("page_viewed", "order_completed"):
            continue
        who = event.get("user_id") or owner[event["anonymous_id"]]
        if who in hunters:
            in_sale = sale[0] <= event["timestamp"][:10] <= sale[1]
            counts[in_sale, event["type"]] += 1
    rate_sale = counts[True, "order_completed"] / counts[True, "page_viewed"]
    rate_normal = counts[False, "order_completed"] / counts[False, "page_viewed"]
    assert rate_sale > 1.3 * rate_normal


@pytest.mark.slow
def test_full_demo_volume() -> None:
    shop = simulate(SimulationConfig(seed=1))
    assert len(shop.products) == 2000
    assert len(shop.customers) == 5000
    assert 300_000 <= len(shop.events) <= 600_000
    count = Counter(e["type"] for e in shop.events)
    assert count["order_refunded"] > 100
    assert count["product_reviewed"] > 100
    for event in shop.events[::97]:
        assert_valid(event)


def test_summary_matches_the_events(medium_shop: SimulatedShop) -> None:
    summary = sim.summarize(medium_shop)
    assert json.loads(json.dumps(summary)) == summary
    count = Counter(e["type"] for e in medium_shop.events)
    assert summary["events"] == len(medium_shop.events)
    assert summary["events_by_type"] == dict(count)
    assert summary["orders"] == count["order_completed"]
    assert summary["visits"] == count["page_viewed"]
    assert 0.02 < summary["conversion"] < 0.2
    assert summary["weekend_uplift"] > 1.25
    assert summary["sale_uplift"] > 1.3
    assert 0 < summary["identified_share"] < 1
    revenue = sum(
        e["properties"]["revenue"] for e in medium_shop.events if e["type"] == "order_completed"
    )
    assert summary["revenue"] == pytest.approx(revenue)
    assert sum(summary["customers_by_type"].values()) == len(medium_shop.customers)
