"""The default rules give ``n`` items whenever the catalog has them (issue 23): a fallback fills a
short list up to ``n`` (``min_items`` defaults to ``n``), and under a per-category cap it takes
other categories first; the items the cap kept out come back only when those run out."""

from __future__ import annotations

from collections import Counter
from importlib.resources import files

from shopwise.decide import Candidate, FallbackRule, RuleEngine, RuleSet, parse_yaml

from .test_rules import CATALOG, ctx, product, rules

KITCHEN = [f"k{i}" for i in range(8)]
OTHERS = {f"o{i}": ("Toys", f"Leaf {i}") for i in range(7)}
SHOP = {
    **{pid: product(pid) for pid in KITCHEN},
    **{pid: product(pid, category=path) for pid, path in OTHERS.items()},
    "b": CATALOG["b"],  # out of stock
}
POPULAR_KITCHEN = [(pid, 9.0 - i, "popular_in_category:Kitchen") for i, pid in enumerate(KITCHEN)]
POPULAR = [("b", 99.0, "popular"), *((pid, 5.0, "popular") for pid in OTHERS)]


def _engine(popular: list[tuple[str, float, str]]) -> RuleEngine:
    return RuleEngine(lambda: SHOP, lambda _source, _ctx: iter(popular))


def _defaults() -> RuleSet:
    text = files("shopwise.decide").joinpath("defaults.yaml").read_text()
    ruleset: RuleSet = parse_yaml(text, RuleSet)
    return ruleset


def _kitchen_candidates() -> list[Candidate]:
    return [Candidate(pid, 10.0 - i, ["session:transition"]) for i, pid in enumerate(KITCHEN)]


def _leaves(ids: list[str]) -> Counter[str]:
    return Counter(" > ".join(SHOP[pid].category) for pid in ids)


def test_default_rules_fill_a_one_category_list_to_n_issue_23() -> None:
    """The bug: a model whose candidates were all kitchen items gave three under the cap of 3,
    and ``min_items: 1`` never filled it."""
    result = _engine([*POPULAR_KITCHEN, *POPULAR]).apply(
        _defaults(), _kitchen_candidates(), ctx("home"), 10
    )
    ids = [c.product_id for c in result.items]
    assert len(ids) == len(set(ids)) == 10 and "b" not in ids
    assert ids[:3] == ["k0", "k1", "k2"]  # the model's head
    assert max(_leaves(ids).values()) == 3  # the cap held: the others came from other leaves
    assert set(ids[3:]) == set(OTHERS)
    assert result.fallback == "popular_in_category"
    assert {"at-most-3-a-category", "popular-fallback"} <= set(result.rules_fired)
    assert all(c.reasons == ["popular"] for c in result.items[3:])
    scores = [c.score for c in result.items]
    assert scores == sorted(scores, reverse=True)


def test_the_cap_gives_way_only_when_other_categories_run_out() -> None:
    """Thirteen asked, ten in stock within the cap: the model's capped items come back first
    (in its order), so the list still holds thirteen."""
    result = _engine([*POPULAR_KITCHEN, *POPULAR]).apply(
        _defaults(), _kitchen_candidates(), ctx("home"), 13
    )
    ids = [c.product_id for c in result.items]
    assert len(ids) == len(set(ids)) == 13
    assert ids[:10] == ["k0", "k1", "k2", *OTHERS]
    assert ids[10:] == ["k3", "k4", "k5"]  # held back by the cap, in the model's order
    assert [c.reasons for c in result.items[10:]] == [["session:transition"]] * 3
    assert result.fallback == "popular_in_category"


def test_an_empty_model_list_is_filled_to_n_within_the_cap() -> None:
    result = _engine([*POPULAR_KITCHEN, *POPULAR]).apply(_defaults(), [], ctx("home"), 10)
    ids = [c.product_id for c in result.items]
    assert ids == ["k0", "k1", "k2", *OTHERS]
    assert [c.reasons for c in result.items[:3]] == [["popular_in_category:Kitchen"]] * 3


def test_an_explicit_min_items_keeps_its_meaning() -> None:
    """A shop that accepts short lists says so: ``min_items: 1`` fills only an empty one."""
    short = rules("""
rules:
  - {name: cap, type: diversify, max_per_category: 3}
  - {name: pop, type: fallback, source: popular, min_items: 1}
""")
    result = _engine(POPULAR).apply(short, _kitchen_candidates(), ctx("home"), 10)
    assert [c.product_id for c in result.items] == ["k0", "k1", "k2"]
    assert result.fallback is None


def test_min_items_defaults_to_the_list_length() -> None:
    rule = FallbackRule(name="f", type="fallback")
    assert rule.min_items is None
    no_cap = rules("rules: [{name: pop, type: fallback, source: popular}]")
    result = _engine(POPULAR[1:]).apply(no_cap, _kitchen_candidates()[:2], ctx("home"), 5)
    ids = [c.product_id for c in result.items]
    assert ids == ["k0", "k1", "o0", "o1", "o2"] and result.fallback == "popular"


def test_the_fill_past_the_cap_takes_the_fill_when_the_model_has_none_left() -> None:
    """Only kitchen products left in the fill: once the other leaves are used up, the list is
    completed with them rather than cut short, labelled for what they are."""
    result = _engine([*POPULAR[1:3], *POPULAR_KITCHEN]).apply(
        _defaults(), _kitchen_candidates()[:3], ctx("home"), 8
    )
    ids = [c.product_id for c in result.items]
    assert ids == ["k0", "k1", "k2", "o0", "o1", "k3", "k4", "k5"]
    assert [c.reasons for c in result.items[5:]] == [["popular_in_category:Kitchen"]] * 3
    assert result.fallback == "popular_in_category"
