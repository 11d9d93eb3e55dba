"""Tests of the candidate features and the LambdaRank ranker."""

from __future__ import annotations

import numpy as np
import pytest

from shopwise.errors import NotEnoughData
from shopwise.recommend.candidates import InteractionData, ItemContent
from shopwise.recommend.ranking import (
    CandidateConfig,
    LambdaRanker,
    LambdaRankerConfig,
    build_candidates,
    fit_item_stats,
)


def _data(prices: bool = False) -> InteractionData:
    sequences = [np.asarray(s, dtype=np.int64) for s in ([0, 1, 2], [1, 2, 3], [2, 3], [5, 1])]
    content = ItemContent(
        texts=[""] * 6,
        categories=[["a"], ["a"], ["a", "b"], ["b"], [], ["c"]],
        brands=["x", "", "", "", "", ""],
        prices=np.asarray([1, 2, 4, 8, 16, 32], dtype=np.float32) if prices else None,
    )
    return InteractionData(sequences, n_items=6, content=content)


def _batch(config: CandidateConfig, prices: bool = False):  # type: ignore[no-untyped-def]
    data = _data(prices)
    stats = fit_item_stats(data, config)
    histories = [np.asarray([0, 1]), np.asarray([3])]
    scores = {
        "g1": np.asarray([[9, 8, 7, 6, 5, 4], [1, 2, 3, 4, 5, 6]], dtype=np.float32),
        "g2": np.asarray([[0, 0, 1, 0, 2, 0], [3] + [-np.inf] * 5], dtype=np.float32),
    }
    return stats, build_candidates(histories, scores, stats, config)


def test_item_stats() -> None:
    stats = fit_item_stats(_data(), CandidateConfig(recent_interactions=1))
    assert np.allclose(np.expm1(stats.log_popularity), [1, 3, 3, 2, 0, 1])
    assert np.allclose(np.expm1(stats.log_recent_popularity), [0, 1, 1, 2, 0, 0])
    assert stats.attribute_counts.tolist() == [2, 1, 2, 1, 0, 1]
    assert stats.log_prices is None


def test_candidates_are_the_union_of_top_items_without_history() -> None:
    _, batch = _batch(CandidateConfig(per_generator=2, history_candidates=0))
    by_row = {r: sorted(batch.items[batch.rows == r].tolist()) for r in (0, 1)}
    assert by_row[0] == [2, 3, 4]  # g1 top without history: 2, 3; g2: 4, 2
    assert by_row[1] == [0, 4, 5]  # g2 offers only item 0: its -inf items are no candidates
    assert np.all(np.diff(batch.rows) >= 0)


def test_rank_score_and_context_features() -> None:
    _, batch = _batch(CandidateConfig(per_generator=2, history_candidates=1))
    names = batch.feature_names
    features = {name: batch.features[:, names.index(name)] for name in names}
    row0 = batch.rows == 0
    at = {int(i): j for j, i in enumerate(batch.items) if row0[j]}
    assert features["g1__rank"][at[2]] == 0
    assert features["g1__rank"][at[4]] == 2  # not in g1's top 2
    assert features["g2__rank"][at[4]] == 0
    assert features["g2__relative"][at[2]] == pytest.approx(0.5)
    assert features["n_generators"][at[2]] == 2
    assert features["history__steps_back"][at[1]] == 1  # the last item, offered as candidate
    assert features["history__steps_back"][at[3]] > 100
    assert features["history__count"][at[1]] == 1
    assert features["history__count"][at[3]] == 0
    # attributes: item 2 {a, b} vs last item 1 {a}: Jaccard 1/2
    assert features["history__attribute_overlap_last"][at[2]] == pytest.approx(0.5)
    assert features["context__history_length"][at[2]] == 2
    assert "item__log_price" not in names


def test_history_features_match_a_direct_count(rng: np.random.Generator) -> None:
    n_items = 40
    categories = [[f"c{c}" for c in range(4) if rng.random() < 0.4] for _ in range(n_items)]
    content = ItemContent([""] * n_items, categories, [""] * n_items)
    data = InteractionData(
        [rng.integers(0, n_items, 6) for _ in range(30)], n_items, content=content
    )
    config = CandidateConfig(per_generator=5, history_candidates=4)
    stats = fit_item_stats(data, config)
    histories = [rng.integers(0, 12, int(rng.integers(1, 70))) for _ in range(25)]
    scores = {"g": rng.random((len(histories), n_items)).astype(np.float32)}
    batch = build_candidates(histories, scores, stats, config)
    column = {name: batch.features[:, j] for j, name in enumerate(batch.feature_names)}
    groups = [set(c) for c in categories]
    for j, (row, item) in enumerate(zip(batch.rows, batch.items, strict=True)):
        recent = histories[row][-50:].tolist()
        if item in recent:
            steps = recent[::-1].index(item) + 1
            assert column["history__steps_back"][j] == steps
        else:
            assert column["history__steps_back"][j] == 1000
        assert column["history__count"][j] == recent.count(item)
        last = groups[int(histories[row][-1])]
        union = len(groups[item] | last)
        expected = len(groups[item] & last) / union if union else 0.0
        assert column["history__attribute_overlap_last"][j] == pytest.approx(expected)
    for row, history in enumerate(histories):
        offered = set(batch.items[batch.rows == row].tolist())
        assert set(history[-4:].tolist()) <= offered  # the recent history items are candidates


def test_price_features_when_prices_are_known() -> None:
    _, batch = _batch(CandidateConfig(per_generator=2), prices=True)
    names = batch.feature_names
    ratio = batch.features[:, names.index("history__log_price_ratio")]
    j = next(j for j in range(len(batch.items)) if batch.rows[j] == 1 and batch.items[j] == 3)
    assert ratio[j] == pytest.approx(0.0, abs=1e-6)  # item 3 against a history of item 3


def _synthetic(rng: np.random.Generator, queries: int = 300, per: int = 20):  # type: ignore[no-untyped-def]
    """Queries where feature ``useful__score`` marks the target and ``noise__score`` is random."""
    query_ids = np.repeat(np.arange(queries), per)
    useful = rng.normal(size=queries * per).astype(np.float32)
    noise = rng.normal(size=queries * per).astype(np.float32)
    labels = np.zeros(queries * per, dtype=np.float32)
    for q in range(queries):
        block = slice(q * per, (q + 1) * per)
        labels[q * per + int(np.argmax(useful[block] + 0.3 * rng.normal(size=per)))] = 1.0
    return np.stack([useful, noise], axis=1), labels, query_ids


def test_ranker_learns_the_useful_feature_and_explains_with_it(rng: np.random.Generator) -> None:
    features, labels, query_ids = _synthetic(rng)
    ranker = LambdaRanker(LambdaRankerConfig(n_estimators=50, min_child_samples=5, n_jobs=1))
    ranker.fit(features, labels, query_ids, ["useful__score", "noise__score"])
    test_features, test_labels, _ = _synthetic(np.random.default_rng(7), queries=100)
    predicted = ranker.predict(test_features).reshape(100, -1)
    hits = np.argmax(predicted, axis=1) == np.argmax(test_labels.reshape(100, -1), axis=1)
    assert hits.mean() > 0.6  # chance is 1/20
    best_rows = np.argmax(predicted, axis=1) + np.arange(100) * 20
    reasons = ranker.reasons(test_features[best_rows], top=1)
    assert sum(r == ["useful"] for r in reasons) > 90


def test_ranker_rejects_data_without_positives() -> None:
    ranker = LambdaRanker()
    with pytest.raises(NotEnoughData, match="target"):
        ranker.fit(
            np.zeros((4, 1), np.float32), np.zeros(4, np.float32), np.zeros(4, np.int64), ["f"]
        )
    with pytest.raises(RuntimeError, match="fit"):
        ranker.predict(np.zeros((1, 1), np.float32))


def test_configs_round_trip() -> None:
    for config in (CandidateConfig(per_generator=7), LambdaRankerConfig(num_leaves=15)):
        assert type(config).model_validate(config.model_dump()) == config
