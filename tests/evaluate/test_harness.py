"""The evaluation loop: masking, leakage, parameter selection and the registry."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from shopwise.evaluate import (
    REGISTRY,
    EvaluationInputError,
    ModelSpec,
    Queries,
    available_models,
    evaluate_model,
    get_spec,
    leave_one_out,
    rank_queries,
)
from shopwise.recommend.candidates import FloatArray, IntArray, InteractionData, Recommender

N_ITEMS = 40
FITTED: list[InteractionData] = []


class HistoryLover:
    """Scores the items of the history highest: only masking keeps them out of the lists."""

    name = "history-lover"

    def fit(self, data: InteractionData) -> None:
        FITTED.append(data)
        self.n_items = data.n_items

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        scores = np.tile(np.linspace(0.0, 1.0, self.n_items, dtype=np.float32), (len(histories), 1))
        for row, history in enumerate(histories):
            scores[row, history] = 10.0
        return scores

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


class Oracle:
    """Remembers every (history, next item) pair it was trained on and scores that item.

    If a test target leaked into training, this model would hit it every time.
    """

    name = "oracle"

    def __init__(self, config: object = None) -> None:
        self.next: dict[tuple[int, ...], int] = {}

    def fit(self, data: InteractionData) -> None:
        self.n_items = data.n_items
        for seq in data.sequences:
            for end in range(1, len(seq)):
                self.next[tuple(seq[:end][-50:].tolist())] = int(seq[end])

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        noise = np.random.default_rng(7).random((len(histories), self.n_items))
        scores = noise.astype(np.float32)
        for row, history in enumerate(histories):
            target = self.next.get(tuple(history.tolist()))
            if target is not None:
                scores[row, target] = 10.0
        return scores

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


def _sequences(rng: np.random.Generator, n_users: int = 120) -> list[IntArray]:
    return [
        rng.choice(N_ITEMS, size=int(rng.integers(4, 10)), replace=False).astype(np.int64)
        for _ in range(n_users)
    ]


def test_masked_history_never_scores(rng: np.random.Generator) -> None:
    sequences = _sequences(rng)
    _, test = leave_one_out(sequences, N_ITEMS)
    model = HistoryLover()
    model.fit(test.train)
    ranking = rank_queries(model, test.queries, batch_size=7)
    assert test.queries.masks is not None
    for top, mask in zip(ranking.lists, test.queries.masks, strict=True):
        assert not set(top.tolist()) & set(mask.tolist())
    unmasked = Queries(test.queries.histories, None, test.queries.targets)
    leaky = rank_queries(model, unmasked, batch_size=7)
    assert any(
        set(top.tolist()) & set(h.tolist())
        for top, h in zip(leaky.lists, test.queries.histories, strict=True)
    )


def test_a_target_inside_the_history_is_a_miss() -> None:
    queries = Queries(
        histories=[np.array([1, 2], dtype=np.int64)],
        masks=[np.array([1, 2], dtype=np.int64)],
        targets=[np.array([2], dtype=np.int64)],
    )
    model = HistoryLover()
    model.fit(InteractionData(sequences=[], n_items=5))
    assert rank_queries(model, queries).ranks[0].tolist() == [5]


def test_targets_never_reach_training_through_the_harness(rng: np.random.Generator) -> None:
    sequences = _sequences(rng)
    valid, test = leave_one_out(sequences, N_ITEMS)
    spec = ModelSpec("oracle", __name__, "Oracle", None)
    result = evaluate_model(
        spec, valid, test, task="next-item", dataset="toy", count_key="users", rng=rng
    )
    # The oracle only knows transitions it was trained on; the held-out ones are unknown.
    assert result.metrics["HR@5"] < 0.4
    # Control: trained on the full sequences (the leak), the same oracle hits nearly always.
    oracle = Oracle()
    oracle.fit(InteractionData(sequences=sequences, n_items=N_ITEMS))
    leaked = rank_queries(oracle, test.queries)
    assert np.mean([r[0] < 5 for r in leaked.ranks]) > 0.9


def test_parameters_are_chosen_on_validation_only(rng: np.random.Generator) -> None:
    sequences = _sequences(rng)
    valid, test = leave_one_out(sequences, N_ITEMS)
    spec = get_spec("itemknn")
    result = evaluate_model(
        spec, valid, test, task="next-item", dataset="toy", count_key="users", rng=rng
    )
    assert len(result.selection) == len(spec.grid)
    best = max(result.selection, key=lambda trial: trial["NDCG@10"])
    assert result.params == best["params"]
    payload = result.to_json()
    for key in (
        "task",
        "dataset",
        "model",
        "params",
        "metrics",
        "users",
        "fit_seconds",
        "predict_seconds",
        "peak_rss_mb",
    ):
        assert key in payload
    assert all(0.0 <= value <= 1.0 for value in payload["metrics"].values())


@pytest.mark.parametrize("name", ["popular", "als", "bpr", "ease", "itemknn", "sknn"])
def test_registry_builds_our_peers_from_their_grids(name: str) -> None:
    spec = get_spec(name)
    assert spec.available()
    for params in spec.grid:
        model = spec.build(params)
        assert isinstance(model, Recommender)
        assert model.name == name
    assert name in available_models()


def test_registry_names_the_production_models_and_rejects_unknown() -> None:
    assert {"transition", "shopwise"} <= set(REGISTRY)
    with pytest.raises(EvaluationInputError, match="unknown model"):
        get_spec("nope")


def test_missing_module_is_reported_unavailable() -> None:
    assert not ModelSpec("ghost", "shopwise.recommend.candidates.ghost", "Ghost", None).available()


@pytest.mark.parametrize(
    ("name", "encoder", "tuned"),
    [
        ("content", "tfidf", False),
        ("content_minilm", "minilm", False),
        ("content_minilm_tuned", "minilm", True),
    ],
)
def test_registry_lists_the_content_model_alone(name: str, encoder: str, tuned: bool) -> None:
    from shopwise.recommend.candidates.content import ContentRecommender

    spec = get_spec(name)
    assert spec.available() and name in available_models()
    model = spec.build(spec.grid[0])
    assert isinstance(model, ContentRecommender) and isinstance(model, Recommender)
    assert model.config.encoder == encoder
    assert (model.config.fine_tune is not None) == tuned


def test_registry_has_the_category_aware_popularity_baseline() -> None:
    model = get_spec("popular_category").build({})
    assert isinstance(model, Recommender) and model.name == "popular_category"
