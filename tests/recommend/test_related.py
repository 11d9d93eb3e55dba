"""The complementary model a training run keeps, and the served order of item-to-item lists."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from shopwise.recommend import ItemNeighbours, rank_related
from shopwise.recommend.candidates import InteractionData
from shopwise.recommend.candidates.linear import EASEConfig, EASERecommender
from shopwise.recommend.training import fit_complements


def _data() -> InteractionData:
    baskets = [[0, 1], [0, 1, 2], [1, 2], [3, 4], [3, 4, 0]] * 3
    return InteractionData([np.asarray(b, dtype=np.int64) for b in baskets], 5)


def test_complements_keep_eases_best_neighbours() -> None:
    complements, note = fit_complements(_data())
    assert complements is not None and note == "ease"
    ease = EASERecommender()
    ease.fit(_data())
    for item in range(5):
        expected = ease.similar_items(item, 4)
        got = complements.similar_items(item, 4)
        assert got[0].tolist() == expected[0].tolist()
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-6)


def test_ease_is_skipped_above_its_item_limit(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shopwise.recommend"):
        complements, note = fit_complements(_data(), EASEConfig(max_items=4))
    assert complements is None
    assert "5 items is over EASE's max_items 4" in note
    assert note in caplog.text


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
