"""Hand-computed values of the ranking and beyond-accuracy metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from shopwise.evaluate import (
    accuracy_metrics,
    beyond_accuracy_metrics,
    item_popularity,
    target_ranks,
    top_k_lists,
)


def _ranks(*rows: list[int]) -> list[np.ndarray]:
    return [np.asarray(r, dtype=np.int64) for r in rows]


def test_target_ranks_break_ties_by_index_and_never_count_masked() -> None:
    scores = np.array([[0.1, 0.5, 0.5, -np.inf, 0.2]], dtype=np.float32)
    rows = np.zeros(5, dtype=np.int64)
    items = np.arange(5, dtype=np.int64)
    np.testing.assert_array_equal(target_ranks(scores, rows, items), [3, 0, 1, 5, 2])


def test_single_target_metrics_by_hand() -> None:
    got = accuracy_metrics(_ranks([0], [3], [12], [25]))
    assert got["HR@5"] == pytest.approx(2 / 4)
    assert got["NDCG@5"] == pytest.approx((1 + 1 / math.log2(5)) / 4)
    assert got["HR@10"] == pytest.approx(2 / 4)
    assert got["HR@20"] == pytest.approx(3 / 4)
    assert got["NDCG@20"] == pytest.approx((1 + 1 / math.log2(5) + 1 / math.log2(14)) / 4)
    assert got["MRR@20"] == pytest.approx((1 + 1 / 4 + 1 / 13) / 4)
    assert got["Recall@20"] == got["HR@20"]


def test_multi_target_metrics_by_hand() -> None:
    got = accuracy_metrics(_ranks([3, 1, 40]), cutoffs=(5,))
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert got["HR@5"] == 1.0
    assert got["NDCG@5"] == pytest.approx(dcg / ideal)
    assert got["Recall@5"] == pytest.approx(2 / 3)
    assert got["MRR@5"] == pytest.approx(1 / 2)


def test_metrics_of_no_queries_are_zero() -> None:
    assert set(accuracy_metrics([]).values()) == {0.0}


def test_top_k_lists_order_and_padding() -> None:
    scores = np.array([[0.3, 0.9, 0.9, 0.1], [-np.inf, 0.5, -np.inf, -np.inf]], dtype=np.float32)
    lists = top_k_lists(scores, 3)
    assert set(lists[0, :2].tolist()) == {1, 2}
    assert lists[0, 2] == 0
    np.testing.assert_array_equal(lists[1], [1, -1, -1])


def test_beyond_accuracy_by_hand(rng: np.random.Generator) -> None:
    lists = np.array([[0, 1], [0, 2]], dtype=np.int64)
    popularity = np.array([0.5, 0.25, 0.25, 0.0])
    vectors = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    got = beyond_accuracy_metrics(lists, popularity, n_train_users=4, item_vectors=vectors, rng=rng)
    assert got["coverage@2"] == pytest.approx(3 / 4)
    # self-information: items 0, 1, 0, 2 -> 1, 2, 1, 2 bits; divided by log2(4) = 2.
    assert got["novelty@2"] == pytest.approx(0.75)
    assert got["popularity_bias@2"] == pytest.approx(0.375)
    # list [0, 1]: same attributes (distance 0); list [0, 2]: orthogonal (distance 1).
    assert got["ILD@2"] == pytest.approx(0.5)


def test_item_popularity_is_share_of_users() -> None:
    matrix = sp.csr_matrix(np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]]))
    np.testing.assert_allclose(item_popularity(matrix), [0.75, 0.25])
