"""The learned item-to-item ranker (issue 23): its holdout, its sources and what it learns."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shopwise.errors import NotEnoughData
from shopwise.recommend import NO_EVIDENCE
from shopwise.recommend.candidates import InteractionData
from shopwise.recommend.ranking import LambdaRankerConfig
from shopwise.recommend.related_ranker import (
    RelatedRanker,
    RelatedRankerConfig,
    fit_sources,
    holdout,
)

N_ITEMS = 60


def _follower(item: int) -> int:
    return (item * 7 + 3) % N_ITEMS


def _walks(rng: np.random.Generator, users: int = 400, length: int = 10) -> InteractionData:
    """Random walks where each item is followed by its planted follower four times in five."""
    sequences = []
    for _ in range(users):
        items = [int(rng.integers(N_ITEMS))]
        for _ in range(length - 1):
            planted = rng.random() < 0.8
            items.append(_follower(items[-1]) if planted else int(rng.integers(N_ITEMS)))
        sequences.append(np.asarray(items, dtype=np.int64))
    return InteractionData(sequences, N_ITEMS)


def _shoppers(rng: np.random.Generator, shoppers: int = 300) -> InteractionData:
    """Shoppers buying baskets of three of the four products of one group (items 4g..4g+3),
    one timestamp per basket."""
    sequences, times = [], []
    for _ in range(shoppers):
        items, stamps = [], []
        for visit in range(int(rng.integers(2, 5))):
            group = int(rng.integers(N_ITEMS // 4))
            basket = rng.choice(4, 3, replace=False) + 4 * group
            items += basket.tolist()
            stamps += [visit * 86_400] * 3
        sequences.append(np.asarray(items, dtype=np.int64))
        times.append(np.asarray(stamps, dtype=np.int64))
    return InteractionData(sequences, N_ITEMS, timestamps=times)


def _small() -> RelatedRankerConfig:
    return RelatedRankerConfig(
        candidates=10, keep=20, ease=None, ranker=LambdaRankerConfig(n_estimators=60)
    )


def test_similar_holdout_labels_the_item_before_the_last_with_the_last(
    rng: np.random.Generator,
) -> None:
    data = InteractionData(
        [np.array([0, 1, 2]), np.array([3]), np.array([4, 4]), np.array([5, 6])], 7
    )
    kept, examples = holdout(data, False, 5, rng)
    assert [s.tolist() for s in kept.sequences] == [[0, 1], [3], [4], [5]]
    assert examples.queries.tolist() == [1, 5]  # [4, 4] repeats its item: no example
    assert [p.tolist() for p in examples.positives] == [[2], [6]]
    assert examples.basket.tolist() == [-1, -1]


def test_complementary_holdout_hides_the_last_basket(rng: np.random.Generator) -> None:
    data = InteractionData(
        [np.array([0, 1, 2, 3]), np.array([4, 5])],
        6,
        timestamps=[np.array([10, 10, 20, 20]), np.array([30, 30])],
    )
    kept, examples = holdout(data, True, 5, rng)
    assert [s.tolist() for s in kept.sequences] == [[0, 1], [4, 5]]  # one basket stays whole
    assert kept.timestamps is not None and kept.timestamps[0].tolist() == [10, 10]
    assert sorted(examples.queries.tolist()) == [2, 3]
    by_query = dict(zip(examples.queries.tolist(), examples.positives, strict=True))
    assert by_query[2].tolist() == [3] and by_query[3].tolist() == [2]
    assert [b.tolist() for b in examples.baskets] == [[2, 3]]


def test_features_match_their_names_and_leave_the_query_out(rng: np.random.Generator) -> None:
    sources = fit_sources(_shoppers(rng), _small())
    expected = {"forward", "backward", "both", "two_hop", "next", "cooc", "cosine", "basket"}
    assert expected <= set(sources.ranks)
    queries = np.arange(N_ITEMS, dtype=np.int64)
    rows, items = sources.candidates(queries)
    assert len(rows) and not np.any(items == queries[rows])
    assert np.all(np.diff(rows) >= 0)  # grouped by query, as the ranker reads them
    features = sources.features(queries[rows], items)
    assert features.shape == (len(rows), len(sources.feature_names()))
    assert np.isfinite(features).all()


def test_two_hop_reaches_the_products_of_a_products_neighbours() -> None:
    data = InteractionData([np.array([0, 1]), np.array([1, 2]), np.array([3, 4])], 5)
    sources = fit_sources(data, _small())
    two_hop = sp.csr_matrix(sources.scores["two_hop"])
    assert two_hop[0, 2] > 0 and two_hop[2, 0] > 0  # 0 and 2 only share their neighbour 1
    assert two_hop[0, 0] == 0 and two_hop[0, 3] == 0 and two_hop[0, 4] == 0
    assert sources.degrees.tolist() == [1, 2, 1, 1, 1]


def test_the_ranker_learns_the_planted_follower(rng: np.random.Generator) -> None:
    data = _walks(rng)
    ranker = RelatedRanker(_small())
    ranker.fit(data)
    neighbours = ranker.neighbours()
    tops = [int(neighbours.similar_items(item, 1)[0][0]) for item in range(N_ITEMS)]
    assert np.mean([top == _follower(i) for i, top in enumerate(tops)]) >= 0.9
    for item in range(N_ITEMS):
        items, scores = neighbours.similar_items(item, 100)
        assert item not in items.tolist() and len(items) <= ranker.config.keep
        assert np.all(scores > NO_EVIDENCE) and np.all(np.diff(scores) <= 0)


def test_the_ranker_is_deterministic(rng: np.random.Generator) -> None:
    data = _walks(rng, users=200)
    first, second = RelatedRanker(_small()), RelatedRanker(_small())
    first.fit(data)
    second.fit(data)
    assert (first.neighbours().weights != second.neighbours().weights).nnz == 0


def test_complementary_completes_the_planted_baskets(rng: np.random.Generator) -> None:
    ranker = RelatedRanker(_small(), complementary=True)
    ranker.fit(_shoppers(rng))
    assert ranker.temperature in ranker.config.temperatures
    neighbours = ranker.neighbours()
    found = 0
    for item in range(N_ITEMS):
        group = set(range(4 * (item // 4), 4 * (item // 4) + 4)) - {item}
        found += set(neighbours.similar_items(item, 3)[0].tolist()) == group
    assert found >= 0.9 * N_ITEMS


def test_no_sequence_with_an_end_is_not_enough_data() -> None:
    data = InteractionData([np.array([1]), np.array([2])], 4)
    with pytest.raises(NotEnoughData):
        RelatedRanker(_small()).fit(data)


def test_the_config_round_trips() -> None:
    config = _small()
    assert RelatedRankerConfig.model_validate(config.model_dump()) == config


def test_dense_sources_rank_the_same_whatever_the_block(rng: np.random.Generator) -> None:
    """Regression: a block of rows past the first once left out the wrong diagonal."""
    data = _shoppers(rng)
    whole = fit_sources(data, RelatedRankerConfig(candidates=5, block=N_ITEMS))
    blocks = fit_sources(data, RelatedRankerConfig(candidates=5, block=7))
    for name in ("ease", "basket_ease"):
        assert (whole.ranks[name] != blocks.ranks[name]).nnz == 0
        assert not blocks.ranks[name].diagonal().any()
        for item in range(N_ITEMS):  # the item's basket partners lead its list
            partners = set(range(4 * (item // 4), 4 * (item // 4) + 4)) - {item}
            row = blocks.ranks[name][item]
            assert set(row.indices[row.data <= 3].tolist()) == partners
