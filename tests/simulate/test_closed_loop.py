"""The closed-loop traffic simulator: its choice model, its traffic and the server it talks to.

The choice model is checked against the shop's hidden tastes; "a better model really earns more"
with a fake shopwise (``httpx.MockTransport``) that splits shoppers between an oracle serving
their hidden tastes and random products; and end to end, the quick demo shop served by the app
in process takes every event the simulator sends, its online KPIs count what the simulator saw,
and its trained model is clicked more than its popularity fallback by the same shoppers.
"""

from __future__ import annotations

import itertools
import json
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.conftest import quick_demo
from tests.simulate.test_simulator import assert_valid
from typer.testing import CliRunner

from shopwise import store
from shopwise.auth import KeyKind
from shopwise.cli import app
from shopwise.errors import AuthError, InvalidInput
from shopwise.kpis import DAY_MS, KpiRefresh, read_kpis
from shopwise.schema import served_at
from shopwise.simulate import (
    SimulatedShop,
    SimulationConfig,
    Storefront,
    TrafficSimulator,
    TrafficSummary,
    simulate,
)
from shopwise.simulate._customers import Customer


@pytest.fixture(scope="module")
def front() -> Storefront:
    return Storefront(SimulationConfig.quick(seed=7))


def test_the_storefront_is_the_simulated_shop(front: Storefront) -> None:
    shop = simulate(SimulationConfig.quick(seed=7))
    assert front.catalog.rows == shop.products
    seen = 0
    for customer in front.customers:
        truth = shop.truth.customers[customer.customer_id]
        assert customer.budget == truth.budget
        assert customer.consent == truth.consent
        labels = [leaf.label for leaf in front.catalog.leaves]
        taste = dict(zip(labels, customer.leaf_taste, strict=True))
        assert taste == truth.category_taste
        seen += bool({d.anonymous_id for d in customer.devices} & set(truth.anonymous_ids))
    # the shoppers come back on the devices the shop's history knows them by
    with_history = sum(bool(c.anonymous_ids) for c in shop.customers)
    assert seen >= 0.95 * with_history


def _contrast(front: Storefront, customer: Customer) -> tuple[int, int]:
    """A product of the customer's favourite category, liked brand and budget, and one of the
    category they care least for."""
    cat = front.catalog
    leaves = np.argsort(-customer.leaf_taste)
    stocked = [j for j in leaves if cat.leaf_members[j].size > 0]
    best, worst = cat.leaf_members[stocked[0]], cat.leaf_members[stocked[-1]]
    price_ok = cat.price[best] <= front.model.leaf_median_of_item[best] * customer.budget
    brand = customer.brand_affinity[cat.brand[best]]
    liked = best[np.lexsort((-brand, ~price_ok))][0]
    return int(liked), int(worst[0])


def test_favourite_products_are_clicked_and_bought_far_more_often(front: Storefront) -> None:
    ratios_click, ratios_cart = [], []
    for customer in front.customers[:100]:
        liked, unrelated = _contrast(front, customer)
        pair = np.array([liked, unrelated])
        # the same position for both: only the fit differs
        click = [front.click_probability(customer, np.array([i]))[0] for i in pair]
        cart = front.cart_probability(customer, pair)
        ratios_click.append(click[0] / click[1])
        if front.in_stock[pair].all():
            ratios_cart.append(cart[0] / cart[1])
    assert np.median(ratios_click) > 20
    assert np.median(ratios_cart) > 3
    assert min(ratios_click) > 1


def test_lower_positions_are_clicked_less(front: Storefront) -> None:
    customer = front.customers[0]
    item = _contrast(front, customer)[0]
    chance = front.click_probability(customer, np.full(8, item, dtype=np.int64))
    assert np.all(np.diff(chance) < 0)


def test_banners_have_a_fixed_hidden_appeal(front: Storefront) -> None:
    assert front.banner_probability("welcome") == front.banner_probability("welcome")
    odds = {front.banner_probability(f"block-{k}") for k in range(10)}
    assert len(odds) == 10 and all(0 < p < 0.5 for p in odds)


# -- a fake shopwise: an oracle against random products ----------------------------------------


class FakeShopwise:
    """Answers slots and takes events like shopwise; shoppers are split by a hash between an
    oracle (the products that fit their hidden tastes best) and random products."""

    def __init__(self, front: Storefront, split: bool = True) -> None:
        self.front = front
        self.split = split
        self.events: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []
        self.by_id = {c.customer_id: c for c in front.customers}
        self.by_cookie = {d.anonymous_id: c for c in front.customers for d in c.devices}
        self._ids = itertools.count()
        self._rng = np.random.default_rng(0)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != "Bearer sk":
            return httpx.Response(401, json={"error": {"code": "unauthorized", "message": "no"}})
        if request.url.path == "/v1/events":
            batch = json.loads(request.content)["batch"]
            self.events += batch
            return httpx.Response(
                200, json={"accepted": len(batch), "duplicates": 0, "rejected": []}
            )
        params = request.url.params
        customer = self.by_id.get(params.get("user_id", "")) or self.by_cookie.get(
            params["anonymous_id"]
        )
        unit = params.get("user_id") or params["anonymous_id"]
        variant = "oracle" if not self.split or zlib.crc32(unit.encode()) % 2 else "random"
        n = int(params["n"])
        if variant == "oracle" and customer is not None:
            items = np.argsort(-self.front.fit(customer, np.arange(len(self.front.catalog.ids))))
            ids = [self.front.catalog.ids[i] for i in items[:n]]
        else:
            ids = [str(p) for p in self._rng.choice(self.front.catalog.ids, n, replace=False)]
        rid = f"{int(time.time() * 1000):012x}{next(self._ids):020x}"
        answer = {
            "recommendation_id": rid,
            "placement": params["placement"],
            "items": [{"product_id": p, "score": 1.0, "reasons": []} for p in ids],
            "experiment": {"id": "fake", "variant": variant},
        }
        if request.url.path == "/v1/decide":
            answer["banner"] = {"name": "welcome", "kind": "banner", "content": {}, "reasons": []}
        self.answers.append(answer)
        return httpx.Response(200, json=answer)


def _fake(front: Storefront, split: bool = True) -> tuple[FakeShopwise, httpx.Client]:
    server = FakeShopwise(front, split)
    client = httpx.Client(transport=httpx.MockTransport(server.handle), base_url="http://shop")
    return server, client


@pytest.fixture(scope="module")
def oracle_run(front: Storefront) -> tuple[FakeShopwise, TrafficSummary]:
    server, client = _fake(front)
    summary = TrafficSimulator(client, front, "sk", seed=3, new_share=0.0).run(visits=600)
    return server, summary


def test_serving_hidden_tastes_earns_more_than_random_products(
    oracle_run: tuple[FakeShopwise, TrafficSummary],
) -> None:
    _, summary = oracle_run
    oracle, random = summary.variant("fake", "oracle"), summary.variant("fake", "random")
    assert oracle is not None and random is not None
    assert oracle.impressions > 300 and random.impressions > 300
    assert oracle.ctr is not None and random.ctr is not None
    assert oracle.ctr > 3 * random.ctr, (oracle, random)
    assert oracle.adds > 2 * random.adds
    assert oracle.revenue > random.revenue


def test_every_event_is_valid_and_clicks_name_the_answer(
    oracle_run: tuple[FakeShopwise, TrafficSummary],
) -> None:
    server, summary = oracle_run
    assert summary.events == len(server.events) == summary.accepted
    assert summary.rejected == 0
    kinds = {e["type"] for e in server.events}
    assert {"page_viewed", "product_viewed", "product_added", "order_completed"} <= kinds
    assert {"promotion_viewed", "identify"} <= kinds
    assert "recommendation_viewed" not in kinds  # serving logs its own exposures
    served = {a["recommendation_id"]: a for a in server.answers}
    clicks = 0
    for event in server.events:
        assert_valid(event)
        props = event["properties"]
        if event["type"] == "product_viewed" and "recommendation_id" in props:
            answer = served[props["recommendation_id"]]
            assert answer["items"][props["position"]]["product_id"] == props["product_id"]
            assert event["timestamp"] >= _iso(served_at(props["recommendation_id"]))
            clicks += 1
        if event["type"].startswith("promotion_"):
            assert props["name"] == props["promotion_id"] == "welcome"
            assert props["recommendation_id"] in served
    assert clicks == sum(v.clicks - v.banner_clicks for v in summary.variants)
    orders = [e for e in server.events if e["type"] == "order_completed"]
    assert len(orders) == summary.orders > 0
    assert all(o["user_id"] for o in orders)  # customers log in to check out


def _iso(ms: int | None) -> str:
    assert ms is not None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))


def test_the_same_seed_makes_the_same_choices(front: Storefront) -> None:
    def run(seed: int) -> list[tuple[str, str | None]]:
        server, client = _fake(front, split=False)
        TrafficSimulator(client, front, "sk", seed=seed).run(visits=40)
        return [(e["type"], e["properties"].get("product_id")) for e in server.events]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_a_timed_run_keeps_the_rate(front: Storefront) -> None:
    now = [0.0]
    _, client = _fake(front)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    sim = TrafficSimulator(client, front, "sk", rate=2.0, seed=1, clock=lambda: now[0], sleep=sleep)
    seen: list[float] = []
    summary = sim.run(minutes=2, progress=lambda _done, share: seen.append(share))
    assert 180 <= summary.visits <= 300  # Poisson: 240 expected
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert now[0] <= 120.0


def test_bad_arguments_and_a_refused_key(front: Storefront) -> None:
    _, client = _fake(front)
    with pytest.raises(InvalidInput):
        TrafficSimulator(client, front, "sk", rate=0)
    with pytest.raises(InvalidInput):
        TrafficSimulator(client, front, "sk").run(minutes=1, visits=3)
    TrafficSimulator(client, front, "sk").check()
    with pytest.raises(AuthError, match="401"):
        TrafficSimulator(client, front, "wrong").check()
    with pytest.raises(AuthError, match="401"):
        TrafficSimulator(client, front, "wrong").run(visits=1)


# -- end to end: the quick demo shop served by the app -----------------------------------------


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, Any, SimulatedShop]]:
    data_dir: Path = tmp_path_factory.mktemp("traffic") / "var"
    with quick_demo(data_dir, "transition") as served:
        yield served


def _settled(runtime: Any, impressions: int) -> None:
    """Wait until serving's exposures are stored and every consumer has read the log."""
    runtime.exposures.flush()
    query = sa.select(sa.func.count()).where(store.events.c.type == "recommendation_viewed")
    for _ in range(200):
        with runtime.engine.connect() as conn:
            stored = conn.execute(query.select_from(store.events)).scalar_one()
        if stored >= impressions:
            break
        time.sleep(0.05)
    with runtime.engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(store.events.c.id))).scalar_one()
    assert runtime.bus.wait_until_consumed(last, timeout=120)


def test_end_to_end_on_the_quick_demo_shop(demo: tuple[TestClient, Any, SimulatedShop]) -> None:
    client, runtime, shop = demo
    key = runtime.keys.create(KeyKind.SECRET)[1]
    before = _count(runtime, "recommendation_viewed")
    sim = TrafficSimulator(client, shop.config, key, seed=7)
    sim.check()  # an empty batch: the key may write events
    summary = sim.run(visits=300)
    assert summary.visits == 300
    assert summary.rejected == 0 and summary.accepted == summary.events > 500
    (outside,) = summary.variants
    assert (outside.experiment, outside.variant) == (None, None)
    assert outside.clicks > 0 and outside.adds > 0 and outside.orders > 0
    _settled(runtime, before + outside.impressions)
    with runtime.engine.connect() as conn:
        query = sa.select(store.events.c.properties).where(store.events.c.type == "product_viewed")
        clicked = [r.properties for r in conn.execute(query) if "recommendation_id" in r.properties]
    # the demo's history has no answers: every product view naming one is a simulated click
    assert len(clicked) == outside.clicks - outside.banner_clicks
    assert all(served_at(p["recommendation_id"]) is not None for p in clicked)
    KpiRefresh(runtime.engine, runtime.consent, 24).run()
    now = int(time.time() * 1000)
    got = read_kpis(runtime.engine, now - 2 * DAY_MS, now + DAY_MS, "day")
    total = {k: sum(r[k] for r in got) for k in ("impressions", "clicks", "adds", "orders")}
    assert total["impressions"] == outside.impressions
    assert total["clicks"] == outside.clicks
    assert total["adds"] == outside.adds
    assert total["orders"] == outside.orders
    revenue = sum(r["revenue"] for r in got)
    assert revenue == pytest.approx(outside.revenue, abs=0.01)


@pytest.mark.slow
def test_the_trained_model_earns_more_than_popular_products(
    demo: tuple[TestClient, Any, SimulatedShop],
) -> None:
    """The same shoppers making the same choices, served by the quick demo's model, then by the
    rules' popularity fallback alone (no champion): the model's answers are clicked more."""
    client, runtime, shop = demo
    key = runtime.keys.create(KeyKind.SECRET)[1]
    front = Storefront(shop.config)
    champion = runtime.champion._value
    got = {}
    try:
        for name in ("model", "popular"):
            runtime.champion._value = champion if name == "model" else None
            summary = TrafficSimulator(client, front, key, seed=11).run(visits=400)
            (got[name],) = summary.variants
    finally:
        runtime.champion._value = champion
    model, popular = got["model"], got["popular"]
    assert model.ctr is not None and popular.ctr is not None
    assert model.ctr > 1.2 * popular.ctr, (model, popular)


def _count(runtime: Any, kind: str) -> int:
    with runtime.engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(store.events)
        return int(conn.execute(query.where(store.events.c.type == kind)).scalar_one())


# -- the command ---------------------------------------------------------------------------------


def test_the_command_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOPWISE_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["simulate", "traffic", "--minutes", "1", "--quick"])
    assert result.exit_code == 2
    assert "SHOPWISE_API_KEY" in result.output and len(result.output.strip().splitlines()) == 1


def test_the_command_names_a_server_it_cannot_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPWISE_API_KEY", "sk")
    args = ["simulate", "traffic", "--minutes", "1", "--quick", "--url", "http://127.0.0.1:9"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "cannot reach shopwise at http://127.0.0.1:9" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_command_waits_for_a_server_then_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPWISE_API_KEY", "sk")
    args = ["simulate", "traffic", "--minutes", "1", "--quick", "--url", "http://127.0.0.1:9"]
    started = time.monotonic()
    result = CliRunner().invoke(app, [*args, "--wait", "1.5"])
    assert time.monotonic() - started >= 1.5  # the demo starts it before its server is up
    assert result.exit_code == 2 and "cannot reach shopwise" in result.output


def test_simulate_still_loads_the_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    result = CliRunner().invoke(app, ["simulate", "--quick", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "loaded 200 products" in result.output and "rejected 0" in result.output
    listed = CliRunner().invoke(app, ["simulate", "--help"])
    assert "traffic" in listed.output and "--quick" in listed.output
