"""The sequential (GRU) generator: learns order, is deterministic, pickles, handles tiny data."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from shopwise.recommend.candidates import InteractionData, Recommender, recommend
from shopwise.recommend.candidates.sequential import (
    SequentialConfig,
    SequentialRecommender,
    _accidental_hits,
    sampled_softmax,
)

N_ITEMS = 12

SMALL = SequentialConfig(dim=16, epochs=30, batch_positions=64, negatives=0, learning_rate=0.01)


def _chains(rng: np.random.Generator, n_sequences: int = 120) -> InteractionData:
    """Chains 0->1->2, 3->4->5, 6->7->8 (items 9..11 as random noise before a chain)."""
    sequences = []
    for _ in range(n_sequences):
        start = 3 * int(rng.integers(0, 3))
        noise = rng.integers(9, N_ITEMS, size=int(rng.integers(0, 2)))
        chain = np.arange(start, start + 3)
        sequences.append(np.concatenate([noise, chain]).astype(np.int64))
    return InteractionData(sequences=sequences, n_items=N_ITEMS)


def _fitted(rng: np.random.Generator, config: SequentialConfig = SMALL) -> SequentialRecommender:
    model = SequentialRecommender(config)
    model.fit(_chains(rng))
    return model


def test_is_a_recommender() -> None:
    model = SequentialRecommender()
    assert isinstance(model, Recommender)
    assert model.name == "sequential"
    assert SequentialRecommender(name="gru").name == "gru"


def test_learns_the_next_step_of_each_chain(rng: np.random.Generator) -> None:
    model = _fitted(rng)
    for first, second, third in ([0, 1, 2], [3, 4, 5], [6, 7, 8]):
        items, _ = recommend(model, np.array([first], dtype=np.int64), 1)
        assert items.tolist() == [second]
        items, _ = recommend(model, np.array([first, second], dtype=np.int64), 1)
        assert items.tolist() == [third]


def test_order_matters(rng: np.random.Generator) -> None:
    model = _fitted(rng)
    forward = model.score([np.array([9, 3], dtype=np.int64)])[0]
    assert int(np.argmax(forward)) == 4


def test_sampled_softmax_learns_too(rng: np.random.Generator) -> None:
    model = _fitted(rng, SMALL.model_copy(update={"negatives": 6}))
    items, _ = recommend(model, np.array([0], dtype=np.int64), 1)
    assert items.tolist() == [1]


def test_without_attention(rng: np.random.Generator) -> None:
    model = _fitted(rng, SMALL.model_copy(update={"attention": False}))
    items, _ = recommend(model, np.array([3], dtype=np.int64), 1)
    assert items.tolist() == [4]


def test_same_seed_same_scores_other_seed_differs(rng: np.random.Generator) -> None:
    data = _chains(rng)
    history = [np.array([9, 0], dtype=np.int64)]
    first, second, other = (
        SequentialRecommender(SMALL),
        SequentialRecommender(SMALL),
        SequentialRecommender(SMALL.model_copy(update={"seed": 1})),
    )
    for model in (first, second, other):
        model.fit(data)
    np.testing.assert_array_equal(first.score(history), second.score(history))
    assert not np.array_equal(first.score(history), other.score(history))


def test_fit_leaves_the_global_torch_seed_alone(rng: np.random.Generator) -> None:
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _fitted(rng)
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())


def test_pickle_round_trip_scores_identically(rng: np.random.Generator) -> None:
    model = _fitted(rng)
    histories = [np.array([0, 1], dtype=np.int64), np.array([], dtype=np.int64)]
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.score(histories), model.score(histories))
    np.testing.assert_array_equal(restored.similar_items(0, 3)[0], model.similar_items(0, 3)[0])


def test_unseen_items_are_never_recommended_and_empty_history_is_finite() -> None:
    data = InteractionData(sequences=[np.array([0, 1], dtype=np.int64)] * 5, n_items=4)
    model = SequentialRecommender(SMALL)
    model.fit(data)
    scores = model.score([np.array([0], dtype=np.int64), np.array([], dtype=np.int64)])
    assert np.isneginf(scores[:, 2:]).all()
    np.testing.assert_array_equal(scores[1, :2], [0.0, 0.0])
    assert np.isfinite(scores[0, :2]).all()


def test_single_item_sequences_fit_without_training() -> None:
    data = InteractionData(sequences=[np.array([i], dtype=np.int64) for i in range(3)], n_items=5)
    model = SequentialRecommender(SMALL)
    model.fit(data)
    scores = model.score([np.array([0], dtype=np.int64)])
    assert scores.shape == (1, 5)
    assert np.isfinite(scores[0, :3]).all()
    assert np.isneginf(scores[0, 3:]).all()


def test_long_histories_use_only_the_most_recent_items(rng: np.random.Generator) -> None:
    model = _fitted(rng, SMALL.model_copy(update={"max_length": 2}))
    long = np.array([9, 10, 11, 6, 7], dtype=np.int64)
    np.testing.assert_array_equal(model.score([long]), model.score([long[-2:]]))


def test_similar_items_are_sorted_cosines_without_the_item(rng: np.random.Generator) -> None:
    model = _fitted(rng)
    items, scores = model.similar_items(4, 5)
    assert 4 not in items.tolist()
    assert len(items) == 5
    assert np.all(np.diff(scores) <= 1e-6)
    assert np.all(scores <= 1.0 + 1e-5)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        SequentialConfig(dim=1)
    assert SequentialConfig.model_validate(SMALL.model_dump()) == SMALL


def _only_chain(start: int, n_sequences: int = 120) -> InteractionData:
    chain = np.arange(start, start + 3, dtype=np.int64)
    return InteractionData(sequences=[chain] * n_sequences, n_items=N_ITEMS)


def test_refit_continues_from_the_fitted_weights(rng: np.random.Generator) -> None:
    # A refit with a vanishing learning rate must leave the fitted network where it was.
    still = SMALL.model_copy(update={"refit_epochs": 1})
    model = _fitted(rng, still)
    before = {k: v.copy() for k, v in model.state.weights.items()}  # type: ignore[union-attr]
    model.config = still.model_copy(update={"learning_rate": 1e-9})
    model.refit(_chains(rng))
    after = model.state.weights  # type: ignore[union-attr]
    for key, value in before.items():
        np.testing.assert_allclose(after[key], value, atol=1e-5)
    items, _ = recommend(model, np.array([3], dtype=np.int64), 1)
    assert items.tolist() == [4]


def test_refit_learns_what_the_new_data_adds() -> None:
    model = SequentialRecommender(SMALL.model_copy(update={"refit_epochs": 10}))
    model.fit(_only_chain(0))
    assert not model.state.seen[3:6].any()  # type: ignore[union-attr]
    both = InteractionData(
        sequences=[*_only_chain(0).sequences, *_only_chain(3).sequences], n_items=N_ITEMS
    )
    model.refit(both)
    assert model.state.seen[3:6].all()  # type: ignore[union-attr]
    for history, expected in (([0], 1), ([3], 4), ([3, 4], 5)):
        items, _ = recommend(model, np.array(history, dtype=np.int64), 1)
        assert items.tolist() == [expected]


def test_refit_trains_from_scratch_without_a_fit_another_catalog_or_zero_epochs(
    rng: np.random.Generator,
) -> None:
    quick = SMALL.model_copy(update={"epochs": 2})
    data = _chains(rng)
    history = [np.array([9, 0], dtype=np.int64)]
    scratch = SequentialRecommender(quick)
    scratch.fit(data)
    unfitted = SequentialRecommender(quick)
    unfitted.refit(data)
    np.testing.assert_array_equal(unfitted.score(history), scratch.score(history))
    zero = _fitted(rng, quick.model_copy(update={"refit_epochs": 0}))
    zero.refit(data)
    np.testing.assert_array_equal(zero.score(history), scratch.score(history))
    wider = SequentialRecommender(quick)
    wider.fit(InteractionData(sequences=data.sequences, n_items=N_ITEMS + 3))
    wider.refit(data)
    np.testing.assert_array_equal(wider.score(history), scratch.score(history))


def test_device_is_cuda_only_when_torch_sees_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from shopwise.recommend.candidates.sequential import device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device() == torch.device("cuda")


def test_fitted_state_holds_numpy_arrays_only(rng: np.random.Generator) -> None:
    # Artifacts must load on a server without a GPU: no tensors, no torch module in the pickle.
    model = _fitted(rng, SMALL.model_copy(update={"epochs": 1}))
    assert all(isinstance(v, np.ndarray) for v in model.state.weights.values())  # type: ignore[union-attr]
    assert pickle.loads(pickle.dumps(model))._network is None


def _plain_sampled_loss(
    hidden: torch.Tensor,
    rows: torch.Tensor,
    bias: torch.Tensor,
    positive: torch.Tensor,
    target: torch.Tensor,
    drawn: torch.Tensor,
) -> torch.Tensor:
    negative = (hidden @ rows.T + bias[None, :]).masked_fill(
        drawn[None, :] == target[:, None], float("-inf")
    )
    return torch.logsumexp(torch.cat([positive[:, None], negative], dim=1), dim=1) - positive


def test_the_sampled_softmax_matches_its_plain_form() -> None:
    generator = torch.Generator().manual_seed(0)
    target = torch.tensor([0, 3, 3, 7, 9, 2], dtype=torch.int64)
    drawn = torch.tensor([3, 1, 3, 9, 5, 0, 3, 8], dtype=torch.int64)
    shapes = {"hidden": (6, 4), "rows": (8, 4), "bias": (8,), "positive": (6,)}
    inputs = {
        name: torch.randn(shape, generator=generator, dtype=torch.float64, requires_grad=True)
        for name, shape in shapes.items()
    }
    hits = _accidental_hits(target, drawn)
    expected = {(int(i), int(j)) for i, j in (drawn[None, :] == target[:, None]).nonzero()}
    assert {(int(i), int(j)) for i, j in hits.T} == expected
    hidden, rows, bias, positive = inputs.values()
    fused = sampled_softmax(hidden, rows, bias, positive, hits)
    plain = _plain_sampled_loss(hidden, rows, bias, positive, target, drawn)
    torch.testing.assert_close(fused, plain)
    weights = torch.rand(6, generator=generator, dtype=torch.float64)
    learned = [hidden, rows, positive]
    fused_grads = torch.autograd.grad((fused * weights).sum(), learned)
    plain_grads = torch.autograd.grad((plain * weights).sum(), learned)
    for mine, theirs in zip(fused_grads, plain_grads, strict=True):
        torch.testing.assert_close(mine, theirs)
