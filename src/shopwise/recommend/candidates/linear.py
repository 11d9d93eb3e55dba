"""EASE: the closed-form linear item-item autoencoder (Steck, WWW 2019).

EASE learns a dense item x item weight matrix ``B`` with a zero diagonal by ridge regression of
the user x item matrix on itself: ``P = (X'X + lambda I)^-1``, ``B = -P / diag(P)``. It is a strong
peer on small catalogs and an honest upper reference for neighbourhood models, but its memory is
quadratic in the number of items, so :class:`EASEConfig` refuses catalogs above ``max_items``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.linalg.lapack as lapack
from pydantic import BaseModel, ConfigDict, Field

from shopwise.recommend.candidates._histories import check_fitted, history_matrix, top_similar
from shopwise.recommend.candidates._protocol import FloatArray, IntArray, InteractionData


class EASEConfig(BaseModel):
    """Settings of :class:`EASERecommender`."""

    model_config = ConfigDict(extra="forbid")

    l2: float = Field(default=50.0, gt=0.0, description="Ridge penalty lambda on the diagonal.")
    max_items: int = Field(
        default=20_000,
        ge=1,
        description="Refuse larger catalogs: the item x item matrix needs 12 bytes per entry.",
    )


@dataclass
class EASEState:
    """Learned item x item weights (zero diagonal), float32."""

    weights: FloatArray


def ease_weights(gram: npt.NDArray[np.float64], l2: float) -> FloatArray:
    """The EASE weight matrix from a Gram matrix ``X'X`` (overwritten in place).

    Parameters
    ----------
    gram
        Dense symmetric ``(n_items, n_items)`` float64 Gram matrix; it is consumed.
    l2
        Ridge penalty added to the diagonal.

    Returns
    -------
    numpy.ndarray
        Float32 ``B`` with ``B[i, j]`` the weight of history item ``i`` for candidate ``j``.
    """
    gram[np.diag_indices_from(gram)] += l2
    # Cholesky inverse: half the work of an LU inverse for this positive-definite matrix.
    factor, info = lapack.dpotrf(gram, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky factorisation failed (info={info})")
    inverse, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky inverse failed (info={info})")
    n_items = inverse.shape[0]
    diag = np.diag(inverse).copy()
    weights = np.empty((n_items, n_items), dtype=np.float32)
    block = 1024
    # Fill the lower triangle from the upper one block by block to avoid full-size temporaries.
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        inverse[start:stop, :start] = inverse[:start, start:stop].T
        square = np.triu(inverse[start:stop, start:stop])
        inverse[start:stop, start:stop] = square + np.triu(square, 1).T
        weights[start:stop] = inverse[start:stop] / -diag[None, :]
    np.fill_diagonal(weights, 0.0)
    return weights


class EASERecommender:
    """Embarrassingly shallow autoencoder over the binary user x item matrix.

    Parameters
    ----------
    config
        Settings; see :class:`EASEConfig`.
    """

    name = "ease"

    def __init__(self, config: EASEConfig | None = None) -> None:
        self.config = config or EASEConfig()
        self.state: EASEState | None = None

    def fit(self, data: InteractionData) -> None:
        """Solve for ``B`` in closed form.

        Raises
        ------
        ValueError
            When the catalog has more than ``config.max_items`` items.
        """
        if data.n_items > self.config.max_items:
            raise ValueError(
                f"EASE needs a dense {data.n_items} x {data.n_items} matrix; "
                f"max_items is {self.config.max_items}"
            )
        matrix = data.user_items(binary=True).astype(np.float64)
        gram = np.asarray((matrix.T @ matrix).toarray(), dtype=np.float64)
        self.state = EASEState(weights=ease_weights(gram, self.config.l2))

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        """``X_h B``: the summed weights of the history items for every candidate."""
        check_fitted(self.state, self.name)
        assert self.state is not None
        weights = self.state.weights
        scores: FloatArray = np.asarray(history_matrix(histories, weights.shape[0]) @ weights)
        return scores

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """Items with the largest weight from ``item``."""
        check_fitted(self.state, self.name)
        assert self.state is not None
        return top_similar(self.state.weights[item], item, n)
