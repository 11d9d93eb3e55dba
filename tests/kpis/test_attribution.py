"""The attribution rules on hand-made records: what counts for which answer, and what does not."""

from __future__ import annotations

import pytest
from tests.kpis.helpers import HOUR, T0, WINDOW, rid

from shopwise.kpis import Dims, Exposure, Order, Tally, Totals, Touch, aggregate, outcomes
from shopwise.schema import served_at

HOME = Dims("home", "m1", "0", "none")
CART = Dims("cart", "m1", "0", "none")


def _exposure(n: int, at: int, items: tuple[str, ...], dims: Dims = HOME, **kw: object) -> Exposure:
    profile = str(kw.get("profile", "p1"))
    return Exposure(rid(at, n), profile, at, dims, items, bool(kw.get("fallback", False)))


def _touch(n: int, exposure: Exposure, at: int, product: str | None, profile: str = "p1") -> Touch:
    return Touch(n, exposure.recommendation_id, profile, product, at)


def _one(totals: dict[Dims, Totals], dims: Dims = HOME) -> Totals:
    return totals[dims]


def test_click_add_and_order_in_the_window_count_for_the_answer() -> None:
    shown = _exposure(1, T0, ("a", "b", "c"))
    clicks = [_touch(10, shown, T0 + HOUR, "a")]
    adds = [_touch(11, shown, T0 + HOUR, "a")]
    order = Order(12, "o1", "p1", T0 + 2 * HOUR, (("a", 20.0), ("z", 99.0)))
    got = _one(aggregate([shown], clicks, adds, [order], WINDOW, catalog_size=10))
    assert got == Totals(
        impressions=1,
        items_shown=3,
        distinct_items=3,
        catalog_size=10,
        fallbacks=0,
        visitors=1,
        clicks=1,
        adds=1,
        orders=1,
        revenue=20.0,  # the unclicked line "z" is not attributed
    )


def test_an_order_after_the_window_or_by_someone_else_is_not_attributed() -> None:
    shown = _exposure(1, T0, ("a",))
    click = _touch(10, shown, T0 + HOUR, "a")
    late = Order(12, "o1", "p1", T0 + HOUR + WINDOW + 1, (("a", 20.0),))
    other = Order(13, "o2", "p2", T0 + 2 * HOUR, (("a", 20.0),))
    edge = Order(14, "o3", "p1", T0 + HOUR + WINDOW, (("a", 5.0),))
    got = _one(aggregate([shown], [click], [], [late, other, edge], WINDOW, 1))
    assert (got.orders, got.revenue) == (1, 5.0)


def test_clicks_after_the_window_do_not_count_and_a_click_counts_once() -> None:
    shown = _exposure(1, T0, ("a", "b"))
    clicks = [
        _touch(10, shown, T0 + HOUR, "a"),
        _touch(11, shown, T0 + HOUR + 1, "a"),  # the product view the click led to
        _touch(12, shown, T0 + WINDOW + 1, "b"),  # too late
    ]
    assert _one(aggregate([shown], clicks, [], [], WINDOW, 1)).clicks == 1


def test_the_last_click_wins_an_order_line() -> None:
    first = _exposure(1, T0, ("a",))
    second = _exposure(2, T0 + HOUR, ("a",), dims=CART)
    clicks = [_touch(10, first, T0 + 10, "a"), _touch(11, second, T0 + HOUR + 10, "a")]
    order = Order(12, "o1", "p1", T0 + 3 * HOUR, (("a", 20.0),))
    totals = aggregate([first, second], clicks, [], [order], WINDOW, 1)
    assert (totals[HOME].orders, totals[HOME].revenue) == (0, 0.0)
    assert (totals[CART].orders, totals[CART].revenue) == (1, 20.0)
    # the bucket of the first answer alone still knows the later click won the line
    alone = aggregate([first], clicks, [], [order], WINDOW, 1)
    assert alone[HOME].revenue == 0.0


def test_fallback_share_coverage_and_visitors() -> None:
    answers = [
        _exposure(1, T0, ("a", "b"), fallback=True),
        _exposure(2, T0 + 1, ("b", "c")),
        _exposure(3, T0 + 2, ("c",), profile="p2"),
    ]
    got = _one(aggregate(answers, [], [], [], WINDOW, catalog_size=6))
    assert (got.impressions, got.items_shown, got.distinct_items) == (3, 5, 3)
    assert (got.fallbacks, got.visitors, got.catalog_size) == (1, 2, 6)


def test_a_resent_order_counts_once() -> None:
    shown = _exposure(1, T0, ("a",))
    click = _touch(10, shown, T0 + 1, "a")
    orders = [Order(n, "o1", "p1", T0 + HOUR + n, (("a", 20.0),)) for n in (12, 13)]
    got = _one(aggregate([shown], [click], [], orders, WINDOW, 1))
    assert (got.orders, got.revenue) == (1, 20.0)


@pytest.mark.parametrize("text", ["not-an-id", "zz" * 16, ""])
def test_ids_shopwise_did_not_make_have_no_serving_time(text: str) -> None:
    assert served_at(text) is None
    assert served_at(rid(T0, 7)) == T0


def test_a_tally_counts_an_answer_once_in_each_of_its_groups() -> None:
    shown = _exposure(1, T0, ("a", "b"))
    click = _touch(10, shown, T0 + 1, "a")
    order = Order(12, "o1", "p1", T0 + HOUR, (("a", 20.0),))
    tally: Tally[str] = Tally(outcomes([click], [], [order], WINDOW))
    tally.add(shown, "day", "hour")
    tally.add(shown, "day", "hour")  # the same answer stored twice
    got = tally.totals()
    assert got["day"] == got["hour"]
    assert (got["day"].impressions, got["day"].clicks, got["day"].orders) == (1, 1, 1)
    assert got["day"].revenue == 20.0
