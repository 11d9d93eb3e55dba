"""Item-kNN: items that co-occur with the history items, by cosine similarity.

The classic item-based collaborative filter (Sarwar et al. 2001; Deshpande and Karypis 2004):
the cosine between item columns of the binary user x item matrix, pruned to each item's
``neighbors`` most similar items. A history scores a candidate by the summed similarity of its
items to it, optionally weighting recent history items more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from shopwise.recommend.candidates._histories import (
    check_fitted,
    history_matrix,
    recency_weights,
    top_similar,
)
from shopwise.recommend.candidates._protocol import FloatArray, IntArray, InteractionData

Decay = Literal["same", "linear", "div"]


class ItemKNNConfig(BaseModel):
    """Settings of :class:`ItemKNNRecommender`."""

    model_config = ConfigDict(extra="forbid")

    neighbors: int = Field(default=100, ge=1, description="Similar items kept per item.")
    shrink: float = Field(
        default=0.0, ge=0.0, description="Added to the cosine denominator to damp rare pairs."
    )
    decay: Decay = Field(default="same", description="Weighting of history items by recency.")


@dataclass
class ItemKNNState:
    """Learned state: pruned item x item similarities (row = history item)."""

    similarities: sp.csr_matrix


def keep_top_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row of a CSR matrix (ties broken by column).

    Parameters
    ----------
    matrix
        Any CSR matrix.
    k
        Entries kept per row.

    Returns
    -------
    scipy.sparse.csr_matrix
        A pruned copy with the same shape.
    """
    matrix = matrix.tocsr()
    matrix.eliminate_zeros()
    lengths = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)
    order = np.lexsort((matrix.indices, -matrix.data, rows))
    rank = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], lengths)
    keep = order[rank < k]
    pruned = sp.csr_matrix(
        (matrix.data[keep], (rows[keep], matrix.indices[keep])), shape=matrix.shape
    )
    return pruned


def cosine_item_similarities(user_items: sp.csr_matrix, shrink: float) -> sp.csr_matrix:
    """Cosine similarity between the item columns of ``user_items``, zero diagonal.

    ``shrink`` is added to the product of norms (Koren-style shrinkage of rare pairs).
    """
    binary = user_items.astype(np.float32).tocsc()
    co = (binary.T @ binary).tocsr()
    norms = np.sqrt(np.asarray(co.diagonal(), dtype=np.float64))
    co.setdiag(0.0)
    co.eliminate_zeros()
    coo = co.tocoo()
    denominator = norms[coo.row] * norms[coo.col] + shrink
    values = (coo.data / np.maximum(denominator, 1e-12)).astype(np.float32)
    return sp.csr_matrix((values, (coo.row, coo.col)), shape=co.shape)


class ItemKNNRecommender:
    """Cosine item-based nearest neighbours.

    Parameters
    ----------
    config
        Settings; see :class:`ItemKNNConfig`.
    """

    name = "itemknn"

    def __init__(self, config: ItemKNNConfig | None = None) -> None:
        self.config = config or ItemKNNConfig()
        self.state: ItemKNNState | None = None

    def fit(self, data: InteractionData) -> None:
        """Compute and prune the item-item cosine matrix."""
        sims = cosine_item_similarities(data.user_items(binary=True), self.config.shrink)
        self.state = ItemKNNState(similarities=keep_top_per_row(sims, self.config.neighbors))

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        """Summed (recency-weighted) similarity of the history items to every item."""
        check_fitted(self.state, self.name)
        assert self.state is not None
        sims = self.state.similarities
        weights = [recency_weights(len(h), self.config.decay) for h in histories]
        query = history_matrix(histories, sims.shape[0], weights)
        return np.asarray((query @ sims).toarray(), dtype=np.float32)

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """The pruned neighbours of ``item``, most similar first."""
        check_fitted(self.state, self.name)
        assert self.state is not None
        row = np.asarray(self.state.similarities[item].toarray(), dtype=np.float32).ravel()
        row[row == 0] = -np.inf
        return top_similar(row, item, n)
