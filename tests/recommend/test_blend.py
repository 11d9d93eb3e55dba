"""Tests of the blend that keeps the pipeline's list at least as good as its best generator
(issue 23: on a session data set the ranker's P@20 fell below session-kNN's)."""

from __future__ import annotations

import pickle

import numpy as np

from shopwise.evaluate import accuracy_metrics
from shopwise.recommend.candidates import InteractionData
from shopwise.recommend.candidates.transition import TransitionConfig
from shopwise.recommend.pipeline import ShopwiseConfig, ShopwiseRecommender, holdout_last
from shopwise.recommend.ranking import (
    BlendConfig,
    CandidateConfig,
    LambdaRankerConfig,
    blended_list,
    choose_blend,
    list_metrics,
)

N_ITEMS = 80


def _ints(*values: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def test_blended_list_keeps_the_head_then_alternates_without_repeats() -> None:
    items, from_generator = blended_list(_ints(1, 2, 3, 4), _ints(2, 9, 8, 1, 7), 2, 6)
    assert items.tolist() == [1, 2, 9, 3, 8, 4]
    assert from_generator.tolist() == [False, False, True, False, True, False]


def test_blended_list_fills_from_the_other_list_when_one_runs_out() -> None:
    items, from_generator = blended_list(_ints(5), _ints(5, 6, 7, 8), 0, 4)
    assert items.tolist() == [5, 6, 7, 8]
    assert from_generator.tolist() == [True, True, True, True]


def test_list_metrics_match_the_harness(rng: np.random.Generator) -> None:
    lists, targets, ranks = [], [], []
    for _ in range(200):
        items = rng.permutation(50)[:20]
        wanted = rng.choice(50, size=int(rng.integers(1, 4)), replace=False)
        lists.append(items)
        targets.append(wanted)
        position = {int(item): rank for rank, item in enumerate(items)}
        ranks.append(np.asarray([position.get(int(w), 50) for w in wanted]))
    ours = list_metrics(lists, targets, (10, 20))
    harness = accuracy_metrics(ranks, (10, 20))
    assert ours.keys() == harness.keys()
    for name, value in harness.items():
        assert np.isclose(ours[name], value), name


def test_choose_blend_keeps_a_ranker_that_wins_everywhere() -> None:
    targets = [_ints(t) for t in range(10)]
    ranker = [_ints(t, 50, 51) for t in range(10)]
    generator = [_ints(50, 51, t) for t in range(10)]
    blend = choose_blend(ranker, {"g": generator}, targets, BlendConfig(), skip_history=True)
    assert blend.generator is None
    assert blend.metrics["final"] == blend.metrics["ranker"]


def test_choose_blend_fills_a_weak_tail_from_the_generator() -> None:
    targets = [_ints(t + 100) for t in range(10)]
    # The ranker finds half of the targets first; the generator finds all of them, third.
    ranker = [_ints(t + 100 if t % 2 else 300 + t, *range(200, 219)) for t in range(10)]
    generator = [_ints(400, 401, t + 100, *range(402, 419)) for t in range(10)]
    blend = choose_blend(ranker, {"g": generator}, targets, BlendConfig(), skip_history=True)
    assert (blend.generator, blend.head) == ("g", 5)
    final, best = blend.metrics["final"], blend.metrics["g"]
    assert all(final[name] >= value for name, value in best.items())
    assert blend.metrics["ranker"]["HR@20"] < best["HR@20"]


def _spread_data(rng: np.random.Generator, users: int = 600) -> InteractionData:
    """Walks where each item has ten equally likely successors: a short list misses most."""
    successors = rng.integers(0, N_ITEMS, size=(N_ITEMS, 10))
    sequences = []
    for _ in range(users):
        item = int(rng.integers(N_ITEMS))
        walk = [item]
        for _ in range(int(rng.integers(5, 10))):
            item = int(successors[item, rng.integers(10)])
            walk.append(item)
        sequences.append(np.asarray(walk, dtype=np.int64))
    return InteractionData(sequences, n_items=N_ITEMS)


def _short_ranker() -> ShopwiseConfig:
    """A pipeline whose ranker sees only three candidates per query, so its list is short."""
    return ShopwiseConfig(
        transitions={"transition": TransitionConfig()},
        content=None,
        als=None,
        sknn=None,
        sequential=None,
        candidates=CandidateConfig(per_generator=3, history_candidates=0),
        ranker=LambdaRankerConfig(n_estimators=30, min_child_samples=5, n_jobs=1),
    )


def test_blend_beats_the_generator_when_the_ranker_loses_the_tail(
    rng: np.random.Generator,
) -> None:
    data = _spread_data(rng)
    model = ShopwiseRecommender(_short_ranker())
    model.fit(data)
    blend = model.blend
    assert blend is not None
    assert blend.generator == "transition"
    metrics = blend.metrics
    assert metrics["ranker"]["HR@20"] < metrics["transition"]["HR@20"]
    assert metrics["final"]["HR@20"] >= metrics["transition"]["HR@20"]
    report = model.fit_report()
    assert report["blend"] == {
        "generator": "transition",
        "head": blend.head,
        "length": 20,
        "skip_history": True,
        "queries": blend.queries,
        "metrics": metrics,
    }
    again = ShopwiseRecommender(_short_ranker())
    again.fit(data)
    assert again.blend == blend


def test_served_list_is_the_blended_list(rng: np.random.Generator) -> None:
    data = _spread_data(rng)
    train, users, _ = holdout_last(data)
    model = ShopwiseRecommender(_short_ranker())
    model.fit(train)
    histories = [train.sequences[u] for u in users[:50]]
    scores = model.score(histories)
    for row, history in enumerate(histories):
        served = model.recommend(history, 20)
        masked = scores[row].copy()
        masked[history] = -np.inf
        assert served.items.tolist() == np.argsort(-masked, kind="stable")[:20].tolist()
        # More than the ranker's three candidates: the generator filled the tail.
        assert len(served.items) == 20
        # Items beyond the ranker's candidates carry the generator's reason code.
        assert sum(reasons == ["transition"] for reasons in served.reasons) >= 17


def test_an_artifact_pickled_before_the_blend_serves_the_ranker_list(
    rng: np.random.Generator,
) -> None:
    data = _spread_data(rng, users=300)
    model = ShopwiseRecommender(_short_ranker())
    model.fit(data)
    del model.__dict__["blend"]
    old = pickle.loads(pickle.dumps(model))
    scores = old.score([data.sequences[0]])[0]
    assert old.blend is None
    assert np.isfinite(scores).sum() <= 3


def test_blend_is_chosen_on_queries_left_out_of_the_ranker_sample(
    rng: np.random.Generator,
) -> None:
    data = _spread_data(rng)
    config = _short_ranker().model_copy(update={"max_training_queries": 200})
    model = ShopwiseRecommender(config)
    model.fit(data)
    assert model.blend is not None
    # 600 queries, 200 sampled for the ranker: 20% of the sample is taken from the other 400.
    assert model.blend.queries == 40
    assert model.blend.generator == "transition"
