"""Contract tests every peer candidate generator must pass (one suite, every implementation)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from shopwise.recommend.candidates import InteractionData, Recommender, recommend
from shopwise.recommend.candidates.knn import ItemKNNConfig, ItemKNNRecommender
from shopwise.recommend.candidates.linear import EASEConfig, EASERecommender
from shopwise.recommend.candidates.mf import ALSConfig, ALSRecommender, BPRConfig, BPRRecommender
from shopwise.recommend.candidates.popular import PopularConfig, PopularRecommender
from shopwise.recommend.candidates.sequential import SequentialConfig, SequentialRecommender
from shopwise.recommend.candidates.sknn import SessionKNNConfig, SessionKNNRecommender

N_ITEMS = 30

FACTORIES: dict[str, tuple[Callable[[BaseModel], Recommender], BaseModel]] = {
    "popular": (PopularRecommender, PopularConfig()),  # type: ignore[dict-item]
    "als": (ALSRecommender, ALSConfig(factors=8, iterations=5)),  # type: ignore[dict-item]
    "bpr": (BPRRecommender, BPRConfig(factors=8, iterations=100, learning_rate=0.05)),  # type: ignore[dict-item]
    "ease": (EASERecommender, EASEConfig(l2=5.0)),  # type: ignore[dict-item]
    "itemknn": (ItemKNNRecommender, ItemKNNConfig(neighbors=10)),  # type: ignore[dict-item]
    "sknn": (SessionKNNRecommender, SessionKNNConfig(neighbors=10)),  # type: ignore[dict-item]
    "sequential": (
        SequentialRecommender,  # type: ignore[dict-item]
        SequentialConfig(dim=16, epochs=10, batch_positions=64, negatives=0),
    ),
}


def _data(rng: np.random.Generator, n_users: int = 60) -> InteractionData:
    # Two item clusters so every model has structure to find.
    sequences = []
    for user in range(n_users):
        low = 0 if user % 2 else N_ITEMS // 2
        length = int(rng.integers(3, 9))
        sequences.append(rng.integers(low, low + N_ITEMS // 2, size=length).astype(np.int64))
    return InteractionData(sequences=sequences, n_items=N_ITEMS)


@pytest.fixture(params=sorted(FACTORIES))
def model_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _build(name: str) -> Recommender:
    cls, config = FACTORIES[name]
    return cls(config)


def test_is_a_recommender_with_its_name(model_name: str) -> None:
    model = _build(model_name)
    assert isinstance(model, Recommender)
    assert model.name == model_name


def test_config_round_trips_and_forbids_extra(model_name: str) -> None:
    _, config = FACTORIES[model_name]
    rebuilt = type(config).model_validate(config.model_dump())
    assert rebuilt == config
    with pytest.raises(ValidationError):
        type(config).model_validate({**config.model_dump(), "unknown_option": 1})


def test_unfitted_model_refuses_to_score(model_name: str) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        _build(model_name).score([np.array([1], dtype=np.int64)])


def test_score_shape_dtype_and_batch_consistency(model_name: str, rng: np.random.Generator) -> None:
    model = _build(model_name)
    model.fit(_data(rng))
    histories = [
        np.array([1, 2, 3], dtype=np.int64),
        np.array([20, 21], dtype=np.int64),
        np.array([], dtype=np.int64),
    ]
    scores = model.score(histories)
    assert scores.shape == (3, N_ITEMS)
    assert scores.dtype == np.float32
    assert not np.isnan(scores).any()
    one_by_one = np.vstack([model.score([h])[0] for h in histories])
    np.testing.assert_allclose(scores, one_by_one, rtol=1e-4, atol=1e-5)


def test_personalised_models_follow_the_cluster(model_name: str, rng: np.random.Generator) -> None:
    if model_name == "popular":
        pytest.skip(reason="popularity is the same for every history by design")
    model = _build(model_name)
    model.fit(_data(rng, n_users=200))
    low = np.arange(0, N_ITEMS // 2, dtype=np.int64)
    items, _ = recommend(model, low[:4], 5)
    assert len(items) == 5
    assert set(items.tolist()) <= set(low.tolist())
    assert not set(items.tolist()) & {0, 1, 2, 3}


def test_similar_items_exclude_the_item_and_are_sorted(
    model_name: str, rng: np.random.Generator
) -> None:
    model = _build(model_name)
    model.fit(_data(rng))
    items, scores = model.similar_items(3, 5)
    assert 3 not in items.tolist()
    assert 0 < len(items) <= 5
    assert np.all(np.diff(scores) <= 1e-6)


def test_refit_starts_from_scratch(model_name: str, rng: np.random.Generator) -> None:
    model = _build(model_name)
    model.fit(_data(rng))
    only_low = InteractionData(
        sequences=[np.array([0, 1, 2], dtype=np.int64)] * 10, n_items=N_ITEMS
    )
    model.fit(only_low)
    items, _ = model.similar_items(0, 2)
    if model_name not in {"als", "bpr"}:  # factor models keep random factors for unseen items
        assert set(items.tolist()) == {1, 2}


def test_unknown_item_indices_are_ignored(model_name: str, rng: np.random.Generator) -> None:
    model = _build(model_name)
    model.fit(_data(rng))
    with_unknown = model.score([np.array([2, N_ITEMS + 5], dtype=np.int64)])[0]
    known = model.score([np.array([2], dtype=np.int64)])[0]
    # Recency weights may rescale a single known item's contribution, never reorder items.
    scale = float(np.abs(known).max()) / max(float(np.abs(with_unknown).max()), 1e-12)
    np.testing.assert_allclose(with_unknown * scale, known, rtol=1e-4, atol=1e-5)
