"""The complementary model a training run keeps, and the served order of item-to-item lists."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.sparse as sp

from shopwise.recommend import ItemNeighbours, rank_related
from shopwise.recommend.candidates import InteractionData
from shopwise.recommend.candidates.linear import EASEConfig, EASERecommender
from shopwise.recommend.training import (
    ComplementsConfig,
    completion_ndcg,
    fit_complements,
    order_baskets,
    tuned_complements,
)


def _data() -> InteractionData:
    baskets = [[0, 1], [0, 1, 2], [1, 2], [3, 4], [3, 4, 0]] * 3
    return InteractionData([np.asarray(b, dtype=np.int64) for b in baskets], 5)


def test_complements_keep_eases_best_neighbours() -> None:
    complements, note = fit_complements(_data())
    assert complements is not None and note.startswith("ease on 15 customer sequences")
    ease = EASERecommender()
    ease.fit(_data())
    for item in range(5):
        expected = ease.similar_items(item, 4)
        got = complements.similar_items(item, 4)
        assert got[0].tolist() == expected[0].tolist()
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-6)


def test_ease_is_skipped_above_its_item_limit(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shopwise.recommend"):
        config = ComplementsConfig(ease=EASEConfig(max_items=4))
        complements, note = fit_complements(_data(), config)
    assert complements is None
    assert "5 items is over EASE's max_items 4" in note
    assert note in caplog.text


def _orders(rng: np.random.Generator, customers: int = 200) -> InteractionData:
    """Customers ordering three of the four products of one group (items 4g..4g+3) per order,
    a different group each visit, one timestamp per order."""
    sequences, times = [], []
    for customer in range(customers):
        items: list[int] = []
        stamps: list[int] = []
        for visit in range(3):
            group = int(rng.integers(6))
            items += (rng.choice(4, 3, replace=False) + 4 * group).tolist()
            stamps += [(customer * 3 + visit) * 60] * 3
        sequences.append(np.asarray(items, dtype=np.int64))
        times.append(np.asarray(stamps, dtype=np.int64))
    return InteractionData(sequences, 24, timestamps=times)


def test_order_baskets_cut_where_the_time_changes() -> None:
    data = InteractionData(
        [np.array([3, 1, 3, 2]), np.array([4])],
        5,
        timestamps=[np.array([5, 5, 5, 9]), np.array([7])],
    )
    baskets, times = order_baskets(data)
    assert [b.tolist() for b in baskets] == [[1, 3], [2], [4]]
    assert times.tolist() == [5, 9, 7]
    assert len(order_baskets(_data())[0]) == 0  # no timestamps, no orders


def test_complements_learn_from_orders_not_from_customers(rng: np.random.Generator) -> None:
    complements, note = fit_complements(_orders(rng))
    assert complements is not None and "ease on 600 orders" in note and "tuned on" in note
    for item in range(24):
        items, scores = complements.similar_items(item, 3)
        assert sorted(items.tolist()) == sorted(
            set(range(4 * (item // 4), 4 * (item // 4) + 4)) - {item}
        )
        assert np.all(scores > 0)


def test_tuning_picks_the_grid_point_that_completes_the_latest_orders(
    rng: np.random.Generator,
) -> None:
    baskets, times = order_baskets(_orders(rng))
    config = ComplementsConfig(l2_grid=(1.0, 1e6), dropout_grid=(0.0,), min_baskets=20)
    l2, dropout, how = tuned_complements(baskets, times, 24, config)
    assert (l2, dropout) == (1.0, 0.0) and "tuned on 60 latest orders" in how
    few = ComplementsConfig(min_baskets=61)
    assert tuned_complements(baskets, times, 24, few)[2] == "defaults: 60 validation orders"


def test_completion_ndcg_ranks_the_hidden_product_among_the_summed_neighbours() -> None:
    dense = np.zeros((4, 4), dtype=np.float32)
    dense[0, 2], dense[1, 2], dense[0, 3], dense[1, 3] = 1.0, 1.0, 3.0, 0.5
    model = ItemNeighbours("m", sp.csr_matrix(dense))
    basket = [np.array([0, 1, 2])]  # seed 0 hides its third product, 2
    assert np.random.default_rng(0).integers(3) == 2
    # 0 and 1 asked: 2 sums to 2.0, second after 3 (3.5)
    assert completion_ndcg(model, basket, np.random.default_rng(0)) == pytest.approx(1 / np.log2(3))
    assert completion_ndcg(model, basket, np.random.default_rng(0), k=1) == 0.0
    assert completion_ndcg(model, [np.array([2, 3])], np.random.default_rng(0)) == 0.0


def test_complements_config_round_trips() -> None:
    config = ComplementsConfig(ease=EASEConfig(l2=7.0), dropout=0.25, l2_grid=(1.0, 2.0))
    assert ComplementsConfig.model_validate(config.model_dump()) == config


def test_item_neighbours_top_keeps_the_largest_off_diagonal_entries() -> None:
    dense = np.asarray([[9, 1, 3], [2, 9, 5], [4, 7, 9]], dtype=np.float32)
    kept = ItemNeighbours.top("t", dense, 1, block=2)
    assert kept.weights.toarray().tolist() == [[0, 0, 3], [0, 0, 5], [0, 7, 0]]
    assert kept.similar_items(2, 5)[0].tolist() == [1]
    assert ItemNeighbours.top("t", dense[:1, :1], 5).weights.nnz == 0


def test_similar_reorders_and_complementary_keeps_other_leaves() -> None:
    paths = {"a": ("Home", "Garden"), "b": ("Toys",), "c": ("Home", "Kitchen"), "d": ()}
    anchor = ("Home", "Kitchen")
    similar = rank_related(["b", "d", "a", "c"], [4.0, 3.0, 2.0, 1.0], anchor, paths.get, False)
    assert similar == [("c", 4.0), ("a", 3.0), ("b", 2.0), ("d", 1.0)]
    weak = rank_related(["b", "c"], [1e-6, 1.0], anchor, paths.get, False)
    assert weak == [("c", 1.0)]  # a tie-break score is no evidence
    other = rank_related(["b", "c", "a"], [3.0, 2.0, 1.0], anchor, paths.get, True)
    assert other == [("b", 3.0), ("a", 1.0)]
