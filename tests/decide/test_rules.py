"""Every rule type, precedence, time windows, fallbacks and content decisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopwise.catalog import Product
from shopwise.decide import (
    PUBLIC_REASONS,
    REASON_CODES,
    Candidate,
    ContentSet,
    RuleEngine,
    RuleSet,
    ShopperContext,
    parse_yaml,
    public_reason,
)
from shopwise.errors import InvalidInput
from shopwise.profiles import ProfileState

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def product(pid: str, category: Sequence[str] = ("Home", "Kitchen"), **extra: object) -> Product:
    data: dict[str, object] = {
        "id": pid,
        "title": pid,
        "description": "",
        "category": list(category),
        "brand": "Acme",
        "price": 10.0,
        "sale_price": None,
        "currency": "EUR",
        "stock": 10,
        "available": True,
        "tags": [],
        "image_url": None,
        "attributes": {},
        "created_at": NOW - timedelta(days=100),
        "updated_at": NOW,
    }
    data.update(extra)
    return Product.model_validate(data)


CATALOG = {
    "a": product("a"),
    "b": product("b", stock=0),
    "c": product("c", category=("Home", "Garden"), brand="Zed"),
    "d": product("d", created_at=NOW - timedelta(days=2)),
    "e": product("e", attributes={"age_gated": True}),
    "f": product("f", category=("Toys",), stock=1),
    "g": product("g", sale_price=5.0),
    "h": product("h"),
}
POPULAR = [("h", 9.0, "popular"), ("c", 8.0, "popular"), ("a", 7.0, "popular")]


def engine() -> RuleEngine:
    return RuleEngine(lambda: CATALOG, lambda _source, _ctx: POPULAR)


def ctx(placement: str = "home", **extra: object) -> ShopperContext:
    return ShopperContext(placement=placement, now=NOW, **extra)  # type: ignore[arg-type]


def rules(text: str) -> RuleSet:
    result: RuleSet = parse_yaml(text, RuleSet)
    return result


def cands(*ids: str) -> list[Candidate]:
    return [Candidate(pid, 10.0 - i) for i, pid in enumerate(ids)]


def ids(result: object) -> list[str]:
    return [c.product_id for c in result.items]  # type: ignore[attr-defined]


def test_filters_out_of_stock_category_brand_price_and_flags() -> None:
    ruleset = rules("""
rules:
  - {name: stock, type: filter, exclude: {out_of_stock: true}}
  - {name: adult, type: filter, exclude: {attributes: {age_gated: true}}}
  - {name: no-zed, type: filter, exclude: {brand: [Zed]}}
  - {name: no-toys, type: filter, exclude: {category: [Toys]}}
  - {name: cheap, type: filter, exclude: {price_max: 6}}
""")
    result = engine().apply(ruleset, cands(*"abcdefgh"), ctx(), 10)
    assert ids(result) == ["a", "d", "h"]
    assert result.rules_fired == ["stock", "no-zed", "adult", "no-toys", "cheap"]


def test_purchased_within_days_filter() -> None:
    state = ProfileState(
        purchased=[
            [int((NOW - timedelta(days=3)).timestamp() * 1000), "m", "a"],
            [int((NOW - timedelta(days=60)).timestamp() * 1000), "m2", "d"],
        ]
    )
    ruleset = rules("rules: [{name: bought, type: filter, purchased_within_days: 30}]")
    result = engine().apply(ruleset, cands("a", "d", "h"), ctx(profile=state), 10)
    assert ids(result) == ["d", "h"] and result.rules_fired == ["bought"]


def test_the_first_matching_filter_is_the_one_named() -> None:
    bought_b = ProfileState(purchased=[[int(NOW.timestamp() * 1000), "m", "b"]])
    ruleset = rules("""
rules:
  - {name: bought, type: filter, purchased_within_days: 30, priority: 1}
  - {name: stock, type: filter, exclude: {out_of_stock: true}}
""")
    result = engine().apply(ruleset, cands("a", "b"), ctx(profile=bought_b), 10)
    assert ids(result) == ["a"] and result.rules_fired == ["bought"]
    result = engine().apply(ruleset, cands("a", "b"), ctx(), 10)
    assert result.rules_fired == ["stock"]


def test_verdicts_follow_a_new_catalog_snapshot_and_rule_set() -> None:
    catalog = dict(CATALOG)
    rule_engine = RuleEngine(lambda: catalog, lambda _source, _ctx: POPULAR)
    stock = rules("rules: [{name: stock, type: filter, exclude: {out_of_stock: true}}]")
    assert ids(rule_engine.apply(stock, cands("a", "h"), ctx(), 10)) == ["a", "h"]
    catalog = {**CATALOG, "a": product("a", stock=0)}  # a stock change: a new snapshot
    assert ids(rule_engine.apply(stock, cands("a", "h"), ctx(), 10)) == ["h"]
    zed = rules("rules: [{name: no-h, type: filter, exclude: {product_ids: [h]}}]")
    assert ids(rule_engine.apply(zed, cands("a", "h"), ctx(), 10)) == ["a"]


def test_owned_candidates_are_rescored_in_place_with_the_same_answer() -> None:
    ruleset = rules("""
rules:
  - {name: stock, type: filter, exclude: {out_of_stock: true}}
  - {name: new, type: boost, match: {new_within_days: 7}, factor: 3}
  - {name: sure, type: fallback, source: popular, min_score: 9.5}
""")
    given = cands(*"abcdefgh")
    copied = engine().apply(ruleset, given, ctx(), 4)
    assert [c.score for c in given] == [10.0 - i for i in range(8)]  # not owned: untouched
    owned = engine().apply(ruleset, cands(*"abcdefgh"), ctx(), 4, owned=True)
    assert owned == copied and owned.fallback is None  # the model's top score (10) was sure


def test_boost_and_bury_reorder() -> None:
    ruleset = rules("""
rules:
  - {name: new, type: boost, match: {new_within_days: 7}, factor: 3}
  - {name: low-stock, type: bury, match: {stock_below: 2}, factor: 0.1}
""")
    result = engine().apply(ruleset, cands("f", "a", "d"), ctx(), 3)
    assert ids(result) == ["d", "a", "f"]
    assert result.items[0].reasons == ["boost:new"]


def test_pins_take_their_slot_only_in_their_window_and_placement() -> None:
    text = """
rules:
  - name: hero
    type: pin
    product_id: h
    slot: 0
    placements: [home]
    start: 2026-05-01T00:00:00Z
    end: 2026-07-01T00:00:00Z
"""
    ruleset = rules(text)
    assert ids(engine().apply(ruleset, cands("a", "c", "d"), ctx(), 3)) == ["h", "a", "c"]
    assert ids(engine().apply(ruleset, cands("a", "c", "d"), ctx("cart"), 3)) == ["a", "c", "d"]
    later = ShopperContext(placement="home", now=NOW + timedelta(days=60))
    assert ids(engine().apply(ruleset, cands("a", "c", "d"), later, 3)) == ["a", "c", "d"]


def test_pin_never_shows_a_filtered_product() -> None:
    ruleset = rules("""
rules:
  - {name: stock, type: filter, exclude: {out_of_stock: true}}
  - {name: pin-b, type: pin, product_id: b, slot: 0}
""")
    assert ids(engine().apply(ruleset, cands("a", "c"), ctx(), 2)) == ["a", "c"]


def test_sale_event_override_boosts_only_during_the_sale() -> None:
    ruleset = rules("""
rules:
  - {name: sale, type: boost, match: {on_sale: true}, factor: 5,
     start: 2026-05-30T00:00:00Z, end: 2026-06-02T00:00:00Z}
""")
    assert ids(engine().apply(ruleset, cands("a", "g"), ctx(), 2))[0] == "g"
    after = ShopperContext(placement="home", now=NOW + timedelta(days=3))
    assert ids(engine().apply(ruleset, cands("a", "g"), after, 2))[0] == "a"


def test_diversity_caps_a_category_and_mmr_spreads() -> None:
    capped = rules("rules: [{name: cap, type: diversify, max_per_category: 1}]")
    result = engine().apply(capped, cands("a", "d", "h", "c"), ctx(), 3)
    assert ids(result) == ["a", "c"] and result.rules_fired == ["cap"]
    mmr = rules("rules: [{name: mmr, type: diversify, mmr_lambda: 0.3}]")
    assert ids(engine().apply(mmr, cands("a", "d", "h", "c", "f"), ctx(), 3)) == ["a", "f", "c"]


DEFAULTISH = """
rules:
  - {name: stock, type: filter, exclude: {out_of_stock: true}}
  - {name: cap, type: diversify, max_per_category: 3}
  - {name: pop, type: fallback, source: popular, min_items: 1}
"""
WALK = [
    ("b", 5.0, "fallback:same_category"),  # out of stock: filters hold for fill items too
    ("h", 4.0, "fallback:same_category"),
    ("c", 3.0, "fallback:department"),
    ("f", 2.0, "fallback:popular"),
]


def test_a_capped_list_stays_short_without_a_fill_issue_23() -> None:
    """The bug: four co-viewed kitchen items under a cap of 3 and ``min_items: 1`` made a list of
    three with no fallback."""
    result = engine().apply(rules(DEFAULTISH), cands("a", "d", "g", "e"), ctx("product"), 5)
    assert ids(result) == ["a", "d", "g"] and result.fallback is None


def test_an_item_to_item_fill_completes_the_list_past_the_cap_issue_23() -> None:
    similar = engine().apply(
        rules(DEFAULTISH), cands("a", "d", "g", "e"), ctx("product"), 6, fill=WALK, capped=False
    )
    assert ids(similar) == ["a", "d", "g", "e", "h", "c"]
    assert [c.reasons for c in similar.items[4:]] == [
        ["fallback:same_category"],
        ["fallback:department"],
    ]
    assert similar.fallback == "category_walk" and "pop" not in similar.rules_fired
    assert "cap" not in similar.rules_fired
    # capped: the cap cuts the model's items, and the fill comes after it, uncapped
    capped = engine().apply(
        rules(DEFAULTISH), cands("a", "d", "g", "e"), ctx("product"), 6, fill=WALK, capped=True
    )
    assert ids(capped) == ["a", "d", "g", "h", "c", "f"] and "cap" in capped.rules_fired


def test_a_fill_that_adds_nothing_is_no_fallback() -> None:
    result = engine().apply(rules(DEFAULTISH), cands("a", "d"), ctx("product"), 2, fill=WALK)
    assert ids(result) == ["a", "d"] and result.fallback is None


def test_every_reason_code_has_a_public_reason() -> None:
    assert {code: public_reason(code) for code in REASON_CODES if code.startswith("fallback:")} == {
        "fallback:same_category": "popular",
        "fallback:parent_category": "popular",
        "fallback:department": "popular",
        "fallback:popular": "popular",
    }
    assert public_reason("popular_in_category:Kitchen") == "popular"
    assert public_reason("trending") == public_reason("newest") == "popular"
    assert public_reason("similar:co-viewed") == "related"
    assert public_reason("session:transition") == "personalized"
    assert all(public_reason(code) in PUBLIC_REASONS for code in REASON_CODES)


def test_fallback_fills_when_the_model_is_missing_or_short() -> None:
    ruleset = rules("""
rules:
  - {name: stock, type: filter, exclude: {out_of_stock: true}}
  - {name: popular, type: fallback, source: popular, min_items: 3}
""")
    result = engine().apply(ruleset, [], ctx(), 2, model_ok=False)
    assert ids(result) == ["h", "c"] and result.fallback == "popular"
    short = engine().apply(ruleset, cands("a"), ctx(), 3)
    assert ids(short) == ["a", "h", "c"] and short.items[1].reasons == ["popular"]
    full = engine().apply(ruleset, cands("a", "d", "g"), ctx(), 3)
    assert full.fallback is None


def test_precedence_filters_beat_boosts_and_pins_go_last() -> None:
    ruleset = rules("""
rules:
  - {name: boost-b, type: boost, match: {product_ids: [b]}, factor: 10, priority: 5}
  - {name: stock, type: filter, exclude: {out_of_stock: true}}
  - {name: pin-a, type: pin, product_id: a, slot: 1}
""")
    result = engine().apply(ruleset, cands("b", "c", "d", "a"), ctx(), 3)
    assert ids(result) == ["c", "a", "d"]
    assert "boost-b" not in result.rules_fired


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("rules: [{name: x, type: boost, match: {}, factor: 0.5}]", "rules.0.boost"),
        ("rules: [{name: x, type: teleport}]", "rules.0"),
        ("rules: [{name: x, type: filter}]", "rules.0.filter"),
        (
            "rules: [{name: x, type: pin, product_id: a, slot: 1, start: 2026-01-02T00:00:00Z, "
            "end: 2026-01-01T00:00:00Z}]",
            "rules.0.pin",
        ),
        ("rules: [{name: x, type: diversify}]", "rules.0.diversify"),
        (
            "rules: [{name: x, type: filter, exclude: {colour: red}}]",
            "rules.0.filter.exclude.colour",
        ),
    ],
)
def test_invalid_rules_name_the_field(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        rules(text)
    assert info.value.message.startswith(field)


@settings(max_examples=60, deadline=None)
@given(
    order=st.permutations(list(CATALOG)),
    n=st.integers(1, 8),
    cap=st.integers(1, 3),
)
def test_rule_invariants(order: list[str], n: int, cap: int) -> None:
    ruleset = rules(f"""
rules:
  - {{name: stock, type: filter, exclude: {{out_of_stock: true}}}}
  - {{name: cap, type: diversify, max_per_category: {cap}}}
  - {{name: pop, type: fallback, source: popular}}
""")
    result = engine().apply(ruleset, cands(*order), ctx(), n)
    chosen = ids(result)
    assert len(chosen) <= n and len(set(chosen)) == len(chosen)
    assert "b" not in chosen
    leaves = [" > ".join(CATALOG[p].category) for p in chosen]
    if any(leaves.count(leaf) > cap for leaf in leaves):
        # the cap gives way only to complete the list: nothing within it was left out
        offered = {*order, *(pid for pid, _score, _reason in POPULAR)} - {"b"}
        assert all(
            pid in chosen or leaves.count(" > ".join(CATALOG[pid].category)) >= cap
            for pid in offered
        )


CONTENT = """
blocks:
  - name: generic
    kind: message
    priority: 1
    content: {title: hello}
  - name: cart-abandonment
    kind: message
    priority: 100
    audience: {cart_abandoned_minutes: 30}
    content: {title: come back}
  - name: discount
    kind: banner
    threshold: {score: purchase_7d, min: 0.8}
    content: {code: TEN}
layouts:
  home:
    - {name: bestsellers, weight: 2}
    - {name: garden, category: Garden, weight: 1}
    - {name: toys, category: Toys, weight: 1}
"""


def test_cart_abandonment_beats_the_generic_message() -> None:
    content: ContentSet = parse_yaml(CONTENT, ContentSet)
    carted = int((NOW - timedelta(hours=2)).timestamp() * 1000)
    state = ProfileState(carted=[[carted, "m", "a"]])
    picked = content.pick(ctx(profile=state), "message")
    assert picked is not None and picked[0].name == "cart-abandonment"
    assert picked[1] == ["block:cart-abandonment", "cart_abandoned"]
    state.last_order_at = carted + 1000  # they did buy after all
    picked = content.pick(ctx(profile=state), "message")
    assert picked is not None and picked[0].name == "generic"


def test_threshold_means_what_it_says() -> None:
    content: ContentSet = parse_yaml(CONTENT, ContentSet)
    assert content.pick(ctx(scores={"purchase_7d": 0.79}), "banner") is None
    assert content.pick(ctx(), "banner") is None
    picked = content.pick(ctx(scores={"purchase_7d": 0.8}), "banner")
    assert picked is not None and picked[1] == ["block:discount", "purchase_7d>=0.8"]


def test_layout_follows_affinity() -> None:
    content: ContentSet = parse_yaml(CONTENT, ContentSet)
    assert [s["name"] for s in content.layout(ctx())] == ["bestsellers", "garden", "toys"]
    fan = ProfileState(categories={"Toys": 9.0, "Home > Garden": 1.0})
    sections = content.layout(ctx(profile=fan))
    assert [s["name"] for s in sections] == ["toys", "bestsellers", "garden"]
    assert sections[0]["reason"] == "affinity"


def test_audience_segments_select_blocks() -> None:
    content: ContentSet = parse_yaml(
        """
blocks:
  - {name: vip, kind: banner, priority: 5, audience: {segments: [champions]}, content: {t: v}}
  - {name: all, kind: banner, content: {t: a}}
""",
        ContentSet,
    )
    vip = content.pick(ctx(segments=("champions", "carted-no-order")), "banner")
    assert vip is not None and vip[1] == ["block:vip", "segment:champions"]
    other = content.pick(ctx(segments=("hibernating",)), "banner")
    assert other is not None and other[0].name == "all"


def test_inputs_change_when_a_rule_starts_within_the_minute() -> None:
    """Answers may be reused while ``inputs`` are equal: a rule's start must change them."""
    ruleset = rules("""
rules:
  - {name: sale, type: boost, match: {on_sale: true}, factor: 5,
     start: 2026-05-30T00:00:30Z}
""")
    rule_engine = engine()
    minute = datetime(2026, 5, 30, 0, 0, 0, tzinfo=UTC)
    before = rule_engine.inputs(ruleset, "home", minute)
    again = rule_engine.inputs(ruleset, "home", minute + timedelta(seconds=10))
    started = rule_engine.inputs(ruleset, "home", minute + timedelta(seconds=40))
    assert before == again and before[0] is again[0]  # same facts object
    assert started != before and started[0] is before[0]  # the active rules changed
    later = rule_engine.inputs(ruleset, "home", minute + timedelta(minutes=30))
    assert later[0] is started[0]  # no time condition: the facts stand


def test_facts_are_renewed_when_a_new_arrival_stops_being_new() -> None:
    """ "New within 3 days" turns for product d (created 2 days before NOW) one day after NOW:
    facts built before hold until then, and not a moment longer."""
    ruleset = rules("""
rules:
  - {name: new, type: boost, match: {new_within_days: 3}, factor: 2}
""")
    rule_engine = engine()
    turn = CATALOG["d"].created_at + timedelta(days=3)
    first = rule_engine.inputs(ruleset, "home", turn - timedelta(minutes=30))
    assert rule_engine.inputs(ruleset, "home", turn - timedelta(seconds=1))[0] is first[0]
    assert rule_engine.inputs(ruleset, "home", turn + timedelta(milliseconds=1))[0] is not first[0]
    boosted = rule_engine.apply(
        ruleset, [Candidate("d", 1.0, [])], ShopperContext(placement="home", now=NOW), 1
    )
    assert boosted.rules_fired == ["new"]
    aged = rule_engine.apply(
        ruleset,
        [Candidate("d", 1.0, [])],
        ShopperContext(placement="home", now=turn + timedelta(milliseconds=1)),
        1,
    )
    assert aged.rules_fired == []
