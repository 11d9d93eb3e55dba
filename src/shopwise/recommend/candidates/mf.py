"""Matrix factorisation candidates: implicit-feedback ALS and BPR, both from ``implicit``.

The factor models are trained with the ``implicit`` library (CPU solvers, a fixed small number of
threads so they share a machine politely, BLAS held to one thread during training as ``implicit``
asks). Serving and the evaluation harness score *histories*, not user ids: ALS folds a user
vector in from the history with its normal equations against the learned item factors (the solve
``implicit``'s ``recalculate_user`` does, batched with numpy), and BPR sums the history's item
factors. That keeps both models usable for shoppers who were not in the training data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from threadpoolctl import ThreadpoolController, threadpool_limits

from shopwise.recommend.candidates._histories import check_fitted, history_matrix, top_similar
from shopwise.recommend.candidates._protocol import FloatArray, IntArray, InteractionData


class ALSConfig(BaseModel):
    """Settings of :class:`ALSRecommender` (names follow ``implicit``)."""

    model_config = ConfigDict(extra="forbid")

    factors: int = Field(default=64, ge=1, description="Latent dimensions.")
    regularization: float = Field(default=0.05, ge=0.0, description="L2 penalty on factors.")
    alpha: float = Field(default=10.0, gt=0.0, description="Confidence of an observed interaction.")
    iterations: int = Field(default=15, ge=1, description="ALS sweeps.")
    num_threads: int = Field(default=1, ge=1, description="Solver threads (keep small).")
    seed: int = Field(default=0, description="Seed of the factor initialisation.")


class BPRConfig(BaseModel):
    """Settings of :class:`BPRRecommender` (names follow ``implicit``)."""

    model_config = ConfigDict(extra="forbid")

    factors: int = Field(default=64, ge=1, description="Latent dimensions.")
    learning_rate: float = Field(default=0.01, gt=0.0, description="SGD step size.")
    regularization: float = Field(default=0.001, ge=0.0, description="L2 penalty on factors.")
    iterations: int = Field(default=100, ge=1, description="SGD epochs.")
    num_threads: int = Field(default=1, ge=1, description="SGD threads (keep small).")
    seed: int = Field(default=0, description="Seed of the initialisation and sampling.")


@cache
def blas_controller() -> ThreadpoolController:
    """One controller of the loaded BLAS libraries, discovered on first use and then reused.

    ``threadpool_limits`` rediscovers every loaded native library on each call, which
    :meth:`ALSRecommender.score` paid per request (``docs/performance.md``).
    Scoring only calls numpy's BLAS, which is loaded before this module, so the libraries found
    on first use are the ones to limit.
    """
    return ThreadpoolController()


@dataclass
class FactorState:
    """Learned item factors (float32) plus an optional per-item bias."""

    item_factors: FloatArray
    item_bias: FloatArray | None
    gram: npt.NDArray[np.float64]


def fold_in(
    histories: Sequence[IntArray],
    item_factors: FloatArray,
    gram: npt.NDArray[np.float64],
    alpha: float,
    regularization: float,
) -> FloatArray:
    """User vectors that best explain each history under the implicit-ALS loss.

    Solves ``(Y'Y + reg I + sum_i (c_i - 1) y_i y_i') x = sum_i c_i y_i`` with confidence
    ``c_i = alpha`` for each distinct history item ``i`` (Hu, Koren and Volinsky 2008).

    Parameters
    ----------
    histories
        Item indices per history.
    item_factors
        ``(n_items, k)`` item factors.
    gram
        ``Y'Y`` of the item factors, ``(k, k)``.
    alpha
        Confidence of an observed interaction.
    regularization
        L2 penalty.

    Returns
    -------
    numpy.ndarray
        ``(len(histories), k)`` float32 user vectors; zero for an empty history.
    """
    n_items, k = item_factors.shape
    matrix = history_matrix(histories, n_items)
    lengths = np.diff(matrix.indptr)
    base = gram + regularization * np.eye(k)
    users = np.zeros((matrix.shape[0], k), dtype=np.float64)
    # Bucket histories by length so padding stays small (most histories are short).
    buckets = np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    with blas_controller().limit(limits=1, user_api="blas"):
        base_inverse: npt.NDArray[np.float64] = np.asarray(np.linalg.inv(base), dtype=np.float64)
        for bucket in np.unique(buckets[lengths > 0]):
            rows = np.flatnonzero((buckets == bucket) & (lengths > 0))
            users[rows] = _fold_in_rows(
                matrix, rows, item_factors, base_inverse, alpha - 1.0, alpha
            )
    return users.astype(np.float32)


def _fold_in_rows(
    matrix: Any,
    rows: IntArray,
    item_factors: FloatArray,
    base_inverse: npt.NDArray[np.float64],
    extra_confidence: float,
    alpha: float,
) -> npt.NDArray[np.float64]:
    """Woodbury solve of the fold-in for ``rows`` (all of a similar history length).

    With ``M = Y'Y + reg I``, ``U`` the history items' factors and ``c = alpha - 1``:
    ``x = z - W' (I + c U W')^-1 c U z`` where ``W = U M^-1`` and ``z = M^-1 alpha U' 1``, which
    needs an ``L x L`` solve per history instead of ``k x k``.
    """
    k = item_factors.shape[1]
    starts, stops = matrix.indptr[rows], matrix.indptr[rows + 1]
    width = int((stops - starts).max())
    padded = np.zeros((len(rows), width, k), dtype=np.float64)
    for slot in range(width):
        present = starts + slot < stops
        padded[present, slot] = item_factors[matrix.indices[starts[present] + slot]]
    spread = padded @ base_inverse
    z = alpha * padded.sum(axis=1) @ base_inverse
    system = np.eye(width)[None] + extra_confidence * (spread @ padded.transpose(0, 2, 1))
    rhs = extra_confidence * np.einsum("blk,bk->bl", padded, z)
    correction = np.linalg.solve(system, rhs[..., None])[..., 0]
    result: npt.NDArray[np.float64] = z - np.einsum("blk,bl->bk", spread, correction)
    return result


def _train_csr(data: InteractionData) -> Any:
    matrix = data.user_items(binary=True)
    return matrix.astype(np.float32).tocsr()


def _cosine_row(item_factors: FloatArray, item: int) -> FloatArray:
    norms = np.linalg.norm(item_factors, axis=1)
    norms[norms == 0] = 1.0
    sims: FloatArray = (item_factors @ item_factors[item] / (norms * norms[item])).astype(
        np.float32
    )
    return sims


class ALSRecommender:
    """Implicit-feedback ALS (``implicit.cpu.als``) with history fold-in for scoring.

    Parameters
    ----------
    config
        Settings; see :class:`ALSConfig`.
    """

    name = "als"

    def __init__(self, config: ALSConfig | None = None) -> None:
        self.config = config or ALSConfig()
        self.state: FactorState | None = None

    def fit(self, data: InteractionData) -> None:
        """Train item factors on the binary user x item matrix."""
        from implicit.cpu.als import AlternatingLeastSquares

        cfg = self.config
        # implicit checks the BLAS thread count when the model is built, so build it inside.
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=cfg.alpha,
                iterations=cfg.iterations,
                num_threads=cfg.num_threads,
                random_state=cfg.seed,
            )
            model.fit(_train_csr(data), show_progress=False)
        items = np.asarray(model.item_factors, dtype=np.float32)
        gram = items.astype(np.float64).T @ items.astype(np.float64)
        self.state = FactorState(item_factors=items, item_bias=None, gram=gram)

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        """Dot products of the folded-in user vectors with every item factor."""
        check_fitted(self.state, self.name)
        assert self.state is not None
        cfg = self.config
        users = fold_in(
            histories, self.state.item_factors, self.state.gram, cfg.alpha, cfg.regularization
        )
        return users @ self.state.item_factors.T

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """Items whose factors have the highest cosine with ``item``'s."""
        check_fitted(self.state, self.name)
        assert self.state is not None
        return top_similar(_cosine_row(self.state.item_factors, item), item, n)


class BPRRecommender:
    """Bayesian personalised ranking (``implicit.cpu.bpr``), scoring histories item-based.

    ``implicit`` stores the item bias as the last factor column (users carry a constant 1 there);
    it is split off and added to every score.

    Parameters
    ----------
    config
        Settings; see :class:`BPRConfig`.
    """

    name = "bpr"

    def __init__(self, config: BPRConfig | None = None) -> None:
        self.config = config or BPRConfig()
        self.state: FactorState | None = None

    def fit(self, data: InteractionData) -> None:
        """Train item factors and biases on the binary user x item matrix."""
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        cfg = self.config
        with threadpool_limits(limits=1, user_api="blas"):
            model = BayesianPersonalizedRanking(
                factors=cfg.factors,
                learning_rate=cfg.learning_rate,
                regularization=cfg.regularization,
                iterations=cfg.iterations,
                num_threads=cfg.num_threads,
                random_state=cfg.seed,
            )
            model.fit(_train_csr(data), show_progress=False)
        full = np.asarray(model.item_factors, dtype=np.float32)
        items, bias = np.ascontiguousarray(full[:, :-1]), np.ascontiguousarray(full[:, -1])
        gram = items.astype(np.float64).T @ items.astype(np.float64)
        self.state = FactorState(item_factors=items, item_bias=bias, gram=gram)

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        """The summed factors of the history items times every item's factors, plus its bias.

        BPR has no closed-form fold-in; summing the history's item factors (the item-based
        reading of the model) ranked better on Amazon Beauty than BPR's own trained user
        factors (``docs/models.md``).
        """
        check_fitted(self.state, self.name)
        assert self.state is not None and self.state.item_bias is not None
        items = self.state.item_factors
        users = np.asarray(history_matrix(histories, items.shape[0]) @ items, dtype=np.float32)
        scores: FloatArray = users @ self.state.item_factors.T + self.state.item_bias[None, :]
        return scores

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """Items whose factors have the highest cosine with ``item``'s."""
        check_fitted(self.state, self.name)
        assert self.state is not None
        return top_similar(_cosine_row(self.state.item_factors, item), item, n)
