"""The simulator's ground truth of complementary products, and baskets that follow it (issue 23)."""

from __future__ import annotations

import itertools

from shopwise.simulate import (
    CATEGORY_SEPARATOR,
    COMPLEMENT_PAIRS,
    DEPARTMENTS,
    SimulatedShop,
    SimulationConfig,
    simulate,
)


def _chance(shop: SimulatedShop) -> float:
    """Share of complementary pairs among all pairs of distinct products."""
    truth = shop.truth.complements
    n = len(truth)
    return sum(len(mates) for mates in truth.values()) / (n * (n - 1))


def test_pairs_name_leaves_and_cover_every_department() -> None:
    leaves = {leaf.path[2]: dept.name for dept in DEPARTMENTS for leaf in dept.leaves}
    assert len(leaves) == sum(len(dept.leaves) for dept in DEPARTMENTS)  # leaf names are unique
    for first, second in COMPLEMENT_PAIRS:
        assert first in leaves and second in leaves and first != second
    assert len(set(map(frozenset, COMPLEMENT_PAIRS))) == len(COMPLEMENT_PAIRS)
    within = {
        leaves[first] for first, second in COMPLEMENT_PAIRS if leaves[first] == leaves[second]
    }
    assert within == {dept.name for dept in DEPARTMENTS}


def test_category_complements_are_symmetric_and_cover_every_leaf(
    quick_shop: SimulatedShop,
) -> None:
    mates = quick_shop.truth.category_complements
    assert set(mates) == {leaf.label for dept in DEPARTMENTS for leaf in dept.leaves}
    for label, others in mates.items():
        assert others and label not in others
        assert all(label in mates[other] for other in others)
    tents = CATEGORY_SEPARATOR.join(("Sports & Outdoors", "Camping", "Tents"))
    assert (
        CATEGORY_SEPARATOR.join(("Sports & Outdoors", "Camping", "Sleeping Bags")) in mates[tents]
    )


def test_product_complements_are_the_products_of_complementary_leaves(
    quick_shop: SimulatedShop,
) -> None:
    truth = quick_shop.truth
    assert set(truth.complements) == {row["id"] for row in quick_shop.products}
    for product, others in truth.complements.items():
        wanted = set(truth.category_complements[truth.product_category[product]])
        expected = {p for p, label in truth.product_category.items() if label in wanted}
        assert others == expected
        assert product not in others
    assert 0.0 < _chance(quick_shop) < 0.1


def test_orders_hold_complementary_pairs_far_more_often_than_chance(
    medium_shop: SimulatedShop,
) -> None:
    truth = medium_shop.truth.complements
    pairs = [
        (first, second)
        for event in medium_shop.events
        if event["type"] == "order_completed"
        for first, second in itertools.combinations(
            sorted({line["product_id"] for line in event["properties"]["products"]}), 2
        )
    ]
    assert len(pairs) > 100
    share = sum(second in truth[first] for first, second in pairs) / len(pairs)
    assert share > 5 * _chance(medium_shop)


def test_a_product_just_added_is_often_followed_by_a_look_at_a_complement(
    quick_shop: SimulatedShop,
) -> None:
    truth = quick_shop.truth.complements
    owner = quick_shop.truth.owner_of_anonymous_id
    last_added: dict[str, str] = {}
    followed = []
    for event in quick_shop.events:
        who = event.get("anonymous_id") and owner[event["anonymous_id"]]
        if not who:
            continue
        if event["type"] == "product_added":
            last_added[who] = event["properties"]["product_id"]
        elif event["type"] == "product_viewed" and who in last_added:
            followed.append(event["properties"]["product_id"] in truth[last_added.pop(who)])
        elif event["type"] == "page_viewed":
            last_added.pop(who, None)  # a new visit
    assert len(followed) > 100
    assert sum(followed) / len(followed) > 5 * _chance(quick_shop)


def test_the_ground_truth_is_the_same_for_the_same_seed() -> None:
    first = simulate(SimulationConfig.quick(seed=5))
    again = simulate(SimulationConfig.quick(seed=5))
    assert first.truth.complements == again.truth.complements
    assert first.truth == again.truth
