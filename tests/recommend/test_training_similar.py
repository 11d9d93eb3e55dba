"""The similar-items model a training run keeps (issue 23): the learned ranker's lists, or why
there are none, and their served order (the ranker's own, no category reorder)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from tests.recommend.test_related_ranker import N_ITEMS, _follower, _small, _walks

from shopwise.recommend import NO_EVIDENCE, rank_related
from shopwise.recommend.candidates import InteractionData
from shopwise.recommend.related_ranker import RelatedRanker, RelatedRankerConfig
from shopwise.recommend.training import fit_similar, learned_similar


def test_fit_similar_keeps_the_rankers_lists(rng: np.random.Generator) -> None:
    data = _walks(rng)
    similar, note = fit_similar(data, _small())
    assert similar is not None and note == "related_ranker_similar"
    tops = [int(similar.similar_items(item, 1)[0][0]) for item in range(N_ITEMS)]
    assert np.mean([top == _follower(i) for i, top in enumerate(tops)]) >= 0.9
    ranker = RelatedRanker(_small())
    ranker.fit(data)
    assert (similar.weights != ranker.neighbours().weights).nnz == 0  # every item was seen


def test_an_item_nobody_interacted_with_keeps_no_learned_row(rng: np.random.Generator) -> None:
    walks = _walks(rng)
    unseen = _follower(0)
    sequences = [s[s != unseen] for s in walks.sequences]
    data = InteractionData([s for s in sequences if len(s)], N_ITEMS)
    ranker = RelatedRanker(_small())
    ranker.fit(data)
    kept = learned_similar(ranker, data)
    rows = np.diff(kept.weights.indptr)
    assert rows[unseen] == 0 and np.all(np.delete(rows, unseen) > 0)
    for item in np.flatnonzero(rows).tolist():
        assert kept.similar_items(item, 100)[0].tolist() == (
            ranker.neighbours([item]).similar_items(item, 100)[0].tolist()
        )


def test_too_little_data_keeps_none_and_says_why(
    rng: np.random.Generator, caplog: pytest.LogCaptureFixture
) -> None:
    config = _small().model_copy(update={"min_queries": 100})
    with caplog.at_level(logging.WARNING, logger="shopwise.recommend"):
        similar, note = fit_similar(_walks(rng, users=60), config)
    assert similar is None
    assert note.startswith("skipped: ") and "fewer than min_queries 100" in note
    assert note.endswith("/similar uses the transition model")
    assert note in caplog.text
    empty = InteractionData([np.array([1]), np.array([2])], 4)
    similar, note = fit_similar(empty, RelatedRankerConfig())
    assert similar is None and "no sequence has an end" in note


def test_learned_similar_lists_keep_their_order() -> None:
    """The learned order already weighs the category: only the evidence filter applies."""
    paths = {"a": ("Home", "Garden"), "b": ("Toys",), "c": ("Home", "Kitchen"), "d": ()}
    anchor = ("Home", "Kitchen")
    items, scores = ["b", "d", "a", "c"], [4.0, 3.0, NO_EVIDENCE, 1.0]
    learned = rank_related(items, scores, anchor, paths.__getitem__, False, learned=True)
    assert learned == [("b", 4.0), ("d", 3.0), ("c", 1.0)]
    reordered = rank_related(items, scores, anchor, paths.__getitem__, False)
    assert reordered == [("c", 4.0), ("b", 3.0), ("d", 1.0)]
