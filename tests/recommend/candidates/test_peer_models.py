"""Hand-computed behaviour of each peer candidate generator on tiny data."""

from __future__ import annotations

import numpy as np
import pytest

from shopwise.recommend.candidates import InteractionData
from shopwise.recommend.candidates._histories import history_matrix, recency_weights
from shopwise.recommend.candidates.knn import (
    ItemKNNConfig,
    ItemKNNRecommender,
    cosine_item_similarities,
    keep_top_per_row,
)
from shopwise.recommend.candidates.linear import EASEConfig, EASERecommender, ease_weights
from shopwise.recommend.candidates.mf import ALSConfig, ALSRecommender, fold_in
from shopwise.recommend.candidates.popular import PopularConfig, PopularRecommender
from shopwise.recommend.candidates.sknn import SessionKNNConfig, SessionKNNRecommender


def _seqs(*rows: list[int]) -> list[np.ndarray]:
    return [np.asarray(r, dtype=np.int64) for r in rows]


def test_popular_counts_distinct_users_or_weights() -> None:
    data = InteractionData(
        sequences=_seqs([0, 0, 1], [1, 2], [1]),
        n_items=4,
        weights=[
            np.array([1, 1, 5], np.float32),
            np.array([1, 1], np.float32),
            np.array([1], np.float32),
        ],
    )
    model = PopularRecommender()
    model.fit(data)
    np.testing.assert_array_equal(model.score(_seqs([3]))[0], [1, 3, 1, 0])
    weighted = PopularRecommender(PopularConfig(weighted=True))
    weighted.fit(data)
    np.testing.assert_array_equal(weighted.score(_seqs([3]))[0], [2, 7, 1, 0])


def test_history_matrix_keeps_largest_weight_and_drops_unknown() -> None:
    matrix = history_matrix(
        _seqs([0, 2, 0, 9]), 3, [np.array([0.5, 1.0, 0.8, 1.0], dtype=np.float32)]
    )
    np.testing.assert_allclose(matrix.toarray(), [[0.8, 0.0, 1.0]])


def test_recency_weights_most_recent_is_one() -> None:
    np.testing.assert_allclose(recency_weights(3, "div"), [1 / 3, 1 / 2, 1])
    np.testing.assert_allclose(recency_weights(3, "linear"), [0.8, 0.9, 1.0])
    with pytest.raises(ValueError, match="unknown decay"):
        recency_weights(2, "exp")


def test_ease_weights_match_the_closed_form(rng: np.random.Generator) -> None:
    x = (rng.random((40, 1500)) < 0.05).astype(np.float64)
    gram = x.T @ x
    inverse = np.linalg.inv(gram + 3.0 * np.eye(1500))
    expected = -inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(ease_weights(gram.copy(), 3.0), expected, atol=1e-6)


def test_ease_refuses_large_catalogs() -> None:
    model = EASERecommender(EASEConfig(max_items=3))
    with pytest.raises(ValueError, match="max_items"):
        model.fit(InteractionData(sequences=_seqs([0, 1]), n_items=4))


def test_itemknn_cosine_by_hand() -> None:
    # items 0 and 1 share 2 users; item 0 has 2 users, item 1 has 3, item 2 has 1 shared with 1.
    data = InteractionData(sequences=_seqs([0, 1], [0, 1], [1, 2]), n_items=3)
    sims = cosine_item_similarities(data.user_items(), shrink=0.0).toarray()
    np.testing.assert_allclose(sims[0, 1], 2 / np.sqrt(2 * 3), rtol=1e-6)
    np.testing.assert_allclose(sims[1, 2], 1 / np.sqrt(3), rtol=1e-6)
    assert sims[0, 2] == 0 and sims[1, 1] == 0
    model = ItemKNNRecommender(ItemKNNConfig(neighbors=1))
    model.fit(data)
    # with one neighbour per item, item 1 keeps only item 0 (0.816 > 0.577)
    np.testing.assert_allclose(model.score(_seqs([1]))[0], [2 / np.sqrt(6), 0, 0], rtol=1e-6)


def test_keep_top_per_row_breaks_ties_by_column() -> None:
    import scipy.sparse as sp

    matrix = sp.csr_matrix(np.array([[0.0, 2.0, 2.0, 1.0], [3.0, 0.0, 0.0, 0.0]]))
    np.testing.assert_array_equal(
        keep_top_per_row(matrix, 1).toarray(), [[0, 2, 0, 0], [3, 0, 0, 0]]
    )


def test_sknn_votes_by_hand() -> None:
    data = InteractionData(sequences=_seqs([0, 1], [1, 2], [3, 4]), n_items=5)
    model = SessionKNNRecommender(SessionKNNConfig(neighbors=2, decay="same", normalize=False))
    model.fit(data)
    # query {0, 1}: session 0 shares 2 items, session 1 shares 1, session 2 none.
    np.testing.assert_allclose(model.score(_seqs([0, 1]))[0], [2, 3, 1, 0, 0])
    only_one = SessionKNNRecommender(SessionKNNConfig(neighbors=1, decay="same", normalize=False))
    only_one.fit(data)
    np.testing.assert_allclose(only_one.score(_seqs([0, 1]))[0], [2, 2, 0, 0, 0])


def test_fold_in_solves_the_als_normal_equations(rng: np.random.Generator) -> None:
    factors = rng.normal(size=(12, 4)).astype(np.float32)
    gram = factors.astype(np.float64).T @ factors.astype(np.float64)
    history = np.array([1, 5, 5, 7], dtype=np.int64)
    alpha, reg = 8.0, 0.3
    got = fold_in([history], factors, gram, alpha, reg)[0]
    y = factors[[1, 5, 7]].astype(np.float64)
    lhs = gram + reg * np.eye(4) + (alpha - 1.0) * y.T @ y
    expected = np.linalg.solve(lhs, alpha * y.sum(axis=0))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_als_folded_in_users_prefer_their_own_items(rng: np.random.Generator) -> None:
    sequences = [rng.choice(20, size=6, replace=False).astype(np.int64) for _ in range(80)]
    model = ALSRecommender(ALSConfig(factors=4, iterations=40, regularization=0.1, alpha=5.0))
    model.fit(InteractionData(sequences=sequences, n_items=20))
    scores = model.score(sequences[:10])
    for row, seq in zip(scores, sequences[:10], strict=True):
        seen = row[seq].mean()
        unseen = np.delete(row, seq).mean()
        assert seen > unseen
