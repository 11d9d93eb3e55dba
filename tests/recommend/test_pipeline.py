"""Tests of the production two-stage pipeline (generators -> LambdaRank ranker)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from shopwise.recommend.candidates import InteractionData, ItemContent, Recommender, recommend
from shopwise.recommend.candidates.sequential_config import SequentialConfig
from shopwise.recommend.candidates.transition import TransitionConfig, TransitionRecommender
from shopwise.recommend.pipeline import (
    ShopwiseConfig,
    ShopwiseRecommender,
    choose_scheme,
    holdout_last,
    holdout_sessions,
    holdout_time,
)
from shopwise.recommend.ranking import CandidateConfig, LambdaRankerConfig

N_ITEMS = 60


def _markov_data(rng: np.random.Generator, users: int = 400) -> InteractionData:
    """Sequences walking a sparse random chain; items come in three attribute groups."""
    successors = rng.integers(0, N_ITEMS, size=(N_ITEMS, 3))
    sequences = []
    for _ in range(users):
        item = int(rng.integers(N_ITEMS))
        walk = [item]
        for _ in range(int(rng.integers(4, 9))):
            item = int(successors[item, rng.choice(3, p=[0.6, 0.3, 0.1])])
            walk.append(item)
        sequences.append(np.asarray(walk, dtype=np.int64))
    content = ItemContent(
        texts=[""] * N_ITEMS,
        categories=[[f"g{i % 3}"] for i in range(N_ITEMS)],
        brands=[""] * N_ITEMS,
    )
    return InteractionData(sequences, n_items=N_ITEMS, content=content)


def _config() -> ShopwiseConfig:
    return ShopwiseConfig(
        candidates=CandidateConfig(per_generator=15),
        ranker=LambdaRankerConfig(n_estimators=60, min_child_samples=10, n_jobs=1),
    )


def _hit_rate(model: Recommender, data: InteractionData, n: int = 5) -> float:
    train, users, targets = holdout_last(data)
    model.fit(train)
    histories = [train.sequences[u] for u in users]
    scores = model.score(histories)
    for row, history in enumerate(histories):
        scores[row, history] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :n]
    return float((top == targets[:, None]).any(axis=1).mean())


def test_holdout_last_keeps_single_item_sequences() -> None:
    sequences = [np.asarray([1, 2, 3]), np.asarray([4])]
    times = [np.asarray([10, 20, 30]), np.asarray([40])]
    train, users, targets = holdout_last(InteractionData(sequences, 5, timestamps=times))
    assert users.tolist() == [0]
    assert targets.tolist() == [3]
    assert [s.tolist() for s in train.sequences] == [[1, 2], [4]]
    assert train.timestamps is not None
    assert [t.tolist() for t in train.timestamps] == [[10, 20], [40]]


def test_holdout_sessions_queries_every_prefix_of_the_latest_sequences() -> None:
    sequences = [np.asarray([1, 2]), np.asarray([3, 4, 5]), np.asarray([6, 7, 8]), np.asarray([9])]
    times = [np.asarray([50, 60]), np.asarray([1, 2, 3]), np.asarray([10, 20, 30]), np.asarray([5])]
    held = holdout_sessions(InteractionData(sequences, 10), share=0.25)
    assert held.scheme == "sessions"
    assert [s.tolist() for s in held.train.sequences] == [[1, 2], [3, 4, 5], [6, 7, 8]]
    assert [h.tolist() for h in held.histories] == []  # the last sequence has no next click
    by_time = holdout_sessions(InteractionData(sequences, 10, timestamps=times), share=0.25)
    assert [s.tolist() for s in by_time.train.sequences] == [[3, 4, 5], [6, 7, 8], [9]]
    assert [h.tolist() for h in by_time.histories] == [[1]]
    assert [t.tolist() for t in by_time.targets] == [[2]]
    two = holdout_sessions(InteractionData(sequences[:3], 10), share=0.34)
    assert [h.tolist() for h in two.histories] == [[6], [6, 7]]
    assert [t.tolist() for t in two.targets] == [[7], [8]]


def test_holdout_time_asks_for_new_items_after_the_cut() -> None:
    sequences = [np.asarray([1, 2, 1, 3, 4]), np.asarray([5, 6]), np.asarray([7, 8])]
    times = [np.asarray([1, 2, 3, 8, 9]), np.asarray([8, 9]), np.asarray([2, 3])]
    data = InteractionData(sequences, 10, timestamps=times)
    held = holdout_time(data, share=0.45)  # 9 events: the cut falls at time 8
    assert held.scheme == "time"
    assert [s.tolist() for s in held.train.sequences] == [[1, 2, 1], [], [7, 8]]
    assert held.train.timestamps is not None
    assert [t.tolist() for t in held.train.timestamps] == [[1, 2, 3], [], [2, 3]]
    # user 1 had nothing before the cut and user 2 nothing after it: no query
    assert [h.tolist() for h in held.histories] == [[1, 2, 1]]
    assert [t.tolist() for t in held.targets] == [[3, 4]]
    with pytest.raises(ValueError, match="timestamps"):
        holdout_time(InteractionData(sequences, 10), share=0.2)


def test_auto_scheme_follows_the_shape_of_the_data(rng: np.random.Generator) -> None:
    config = ShopwiseConfig()
    long = _markov_data(rng)
    assert choose_scheme(long, config).scheme == "last"
    short = InteractionData([s[:3] for s in long.sequences], N_ITEMS)
    assert choose_scheme(short, config).scheme == "sessions"
    times = [np.arange(len(s)) * 1000 + u for u, s in enumerate(long.sequences)]
    timed = InteractionData(long.sequences, N_ITEMS, timestamps=times)
    assert choose_scheme(timed, config).scheme == "time"
    few = InteractionData(long.sequences[:20], N_ITEMS, timestamps=times[:20])
    assert choose_scheme(few, config).scheme == "last"  # too few queries after the time cut


def test_pipeline_learns_from_several_targets_per_query(rng: np.random.Generator) -> None:
    data = _markov_data(rng, users=600)
    times = [np.arange(len(s)) * 100 + u for u, s in enumerate(data.sequences)]
    timed = InteractionData(data.sequences, N_ITEMS, timestamps=times, content=data.content)
    model = ShopwiseRecommender(_config().model_copy(update={"ranker_queries": "time"}))
    assert _hit_rate(model, timed) > 0.4
    assert model.scheme == "time"


def test_pipeline_is_a_recommender_scoring_candidates_only(rng: np.random.Generator) -> None:
    data = _markov_data(rng)
    model = ShopwiseRecommender(_config())
    model.fit(data)
    assert isinstance(model, Recommender)
    scores = model.score([data.sequences[0], data.sequences[1]])
    assert scores.shape == (2, N_ITEMS)
    finite = np.isfinite(scores).sum(axis=1)
    assert np.all(finite >= 15)
    assert np.all(finite < N_ITEMS)


def test_pipeline_beats_its_best_generator_on_held_out_items(rng: np.random.Generator) -> None:
    data = _markov_data(rng, users=600)
    pipeline = _hit_rate(ShopwiseRecommender(_config()), data)
    transition = _hit_rate(TransitionRecommender(TransitionConfig()), data)
    assert pipeline >= transition - 0.02
    assert pipeline > 0.5  # the chain's likeliest successor alone gives about 0.6


def test_recommend_gives_reason_codes(rng: np.random.Generator) -> None:
    data = _markov_data(rng)
    model = ShopwiseRecommender(_config())
    model.fit(data)
    result = model.recommend(data.sequences[3], n=5)
    assert len(result.items) == len(result.reasons) == 5
    generator_names = {g.name for g in model.generators}
    known = generator_names | {"item", "history", "context", "n_generators"}
    assert all(set(reasons) <= known for reasons in result.reasons)
    assert any(reasons for reasons in result.reasons)
    assert np.all(np.diff(result.scores) <= 0)


def test_empty_history_gets_popular_items(rng: np.random.Generator) -> None:
    data = _markov_data(rng)
    model = ShopwiseRecommender(_config())
    model.fit(data)
    items, _ = recommend(model, np.empty(0, dtype=np.int64), n=3)
    counts = np.bincount(np.concatenate(data.sequences), minlength=N_ITEMS)
    assert items.tolist() == np.argsort(-counts, kind="stable")[:3].tolist()
    assert model.recommend(np.empty(0, dtype=np.int64), n=2).reasons == [["popular"]] * 2


def test_generator_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        ShopwiseRecommender(_config(), extra_generators=[TransitionRecommender()])


def test_config_round_trips() -> None:
    config = _config()
    assert ShopwiseConfig.model_validate(config.model_dump()) == config


@pytest.mark.slow
@pytest.mark.realdata
def test_pipeline_beats_item_transition_on_a_beauty_sample(datasets_dir: Path) -> None:
    """On 5,000 Amazon Beauty users (full ranking, leave-one-out) the ranked pipeline beats
    the item-transition peer it builds on."""
    from shopwise.evaluate import (
        CUTOFFS,
        accuracy_metrics,
        leave_one_out,
        rank_queries,
        read_attributes,
        read_sequences,
    )

    folder = datasets_dir / "amazon-beauty"
    sequences = read_sequences(folder / "sequences.txt")[:5000]
    n_items = int(max(int(s.max()) for s in sequences) + 1)
    content = read_attributes(folder / "item_attributes.json", n_items)
    _, test = leave_one_out(sequences, n_items, content)
    results = {}
    for model in (TransitionRecommender(), ShopwiseRecommender()):
        model.fit(test.train)
        results[model.name] = accuracy_metrics(rank_queries(model, test.queries).ranks, CUTOFFS)
    assert results["shopwise"]["NDCG@10"] > results["transition"]["NDCG@10"] * 1.05
    assert results["shopwise"]["HR@10"] > results["transition"]["HR@10"]


def test_batch_scoring_matches_one_by_one_and_ignores_unknown_items(
    rng: np.random.Generator,
) -> None:
    data = _markov_data(rng)
    model = ShopwiseRecommender(_config())
    model.fit(data)
    histories = [data.sequences[0], data.sequences[5], np.empty(0, dtype=np.int64)]
    batch = model.score(histories)
    one_by_one = np.vstack([model.score([h])[0] for h in histories])
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-5)
    with_unknown = np.concatenate([data.sequences[5], [N_ITEMS + 3]])
    np.testing.assert_allclose(model.score([with_unknown])[0], batch[1], rtol=1e-5)


def test_generators_without_data_to_learn_from_sit_out(rng: np.random.Generator) -> None:
    data = _markov_data(rng)
    bare = InteractionData(data.sequences, n_items=N_ITEMS)  # no item content at all
    model = ShopwiseRecommender(_config())
    model.fit(bare)
    active = {g.name for g in model.active}
    assert "content_tfidf" in {g.name for g in model.generators}
    assert "content_tfidf" not in active
    assert not any(name.startswith("content_tfidf") for name in model.ranker_features())


def test_the_sequential_generator_trains_on_sessions_only(rng: np.random.Generator) -> None:
    data = _markov_data(rng, users=300)
    config = _config().model_copy(update={"sequential": SequentialConfig(dim=8, epochs=2)})
    sessions = ShopwiseRecommender(config)
    sessions.fit(InteractionData([s[:4] for s in data.sequences], N_ITEMS))
    assert sessions.scheme == "sessions"
    assert "sequential" in {g.name for g in sessions.active}
    assert any(name.startswith("sequential") for name in sessions.ranker_features())
    restored = pickle.loads(pickle.dumps(sessions))
    history = [np.asarray([1, 2], dtype=np.int64)]
    np.testing.assert_array_equal(restored.score(history), sessions.score(history))
    shoppers = ShopwiseRecommender(config)
    shoppers.fit(data)
    assert shoppers.scheme == "last"
    assert "sequential" not in {g.name for g in shoppers.active}


def test_fit_report_times_every_stage(rng: np.random.Generator) -> None:
    model = ShopwiseRecommender(_config())
    assert model.fit_report()["timings"] == {}
    model.fit(_markov_data(rng, users=200))
    timings = model.fit_report()["timings"]
    assert isinstance(timings, dict)
    for stage in ("holdout", "fit:transition", "candidates", "ranker", "refit:transition"):
        assert timings[stage] >= 0.0
    stages = sum(v for k, v in timings.items() if k != "total")
    assert stages <= timings["total"] + 0.05
    assert pickle.loads(pickle.dumps(model)).fit_report()["timings"] == timings


def test_the_sequential_generator_is_fine_tuned_not_retrained(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shopwise.recommend.candidates.sequential import SequentialRecommender

    calls: list[str] = []
    fit, refit = SequentialRecommender.fit, SequentialRecommender.refit

    def counting_fit(self: SequentialRecommender, data: InteractionData) -> None:
        calls.append("fit")
        fit(self, data)

    def counting_refit(self: SequentialRecommender, data: InteractionData) -> None:
        calls.append("refit")
        refit(self, data)

    monkeypatch.setattr(SequentialRecommender, "fit", counting_fit)
    monkeypatch.setattr(SequentialRecommender, "refit", counting_refit)
    sequential = SequentialConfig(dim=8, epochs=2, refit_epochs=1)
    model = ShopwiseRecommender(_config().model_copy(update={"sequential": sequential}))
    data = _markov_data(rng, users=300)
    model.fit(InteractionData([s[:4] for s in data.sequences], N_ITEMS))
    assert calls == ["fit", "refit"]
    assert {"fit:sequential", "refit:sequential"} <= set(model.timings)
