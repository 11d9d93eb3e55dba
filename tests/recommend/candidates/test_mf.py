"""ALS scoring reuses one threadpool controller and still holds BLAS to one thread."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from threadpoolctl import ThreadpoolController

from shopwise.recommend.candidates import InteractionData, mf
from shopwise.recommend.candidates.mf import ALSConfig, ALSRecommender


def _fitted(rng: np.random.Generator) -> ALSRecommender:
    sequences = [rng.choice(30, size=5, replace=False).astype(np.int64) for _ in range(40)]
    model = ALSRecommender(ALSConfig(factors=4, iterations=3))
    model.fit(InteractionData(sequences=sequences, n_items=30))
    return model


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in ThreadpoolController().select(user_api="blas").info()]


def test_als_score_discovers_the_blas_libraries_once(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _fitted(rng)
    created: list[ThreadpoolController] = []

    def counting() -> ThreadpoolController:
        created.append(ThreadpoolController())
        return created[-1]

    def no_rediscovery(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("score must not build a new threadpool_limits")

    mf.blas_controller.cache_clear()
    monkeypatch.setattr(mf, "ThreadpoolController", counting)
    monkeypatch.setattr(mf, "threadpool_limits", no_rediscovery)
    try:
        first = model.score([np.asarray([1, 2, 3])])
        for _ in range(5):
            again = model.score([np.asarray([1, 2, 3])])
    finally:
        mf.blas_controller.cache_clear()
    assert len(created) == 1
    np.testing.assert_array_equal(first, again)


def test_als_fold_in_runs_blas_on_one_thread_and_restores_it(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not _blas_threads():
        pytest.skip("no BLAS library visible to threadpoolctl")
    model = _fitted(rng)
    seen: list[list[int]] = []
    solve = mf._fold_in_rows

    def spy(*args: Any) -> npt.NDArray[np.float64]:
        seen.append(_blas_threads())
        return solve(*args)

    monkeypatch.setattr(mf, "_fold_in_rows", spy)
    with ThreadpoolController().limit(limits=2, user_api="blas"):
        before = _blas_threads()
        model.score([np.asarray([1, 2]), np.asarray([4, 5, 6, 7, 8])])
        after = _blas_threads()
    assert seen and all(threads == [1] * len(before) for threads in seen)
    assert before == after == [2] * len(before)
