"""Session-kNN (V-SKNN style): recommend what similar past sessions contained.

Following Ludewig and Jannach (2018), a query session is compared with every training session
that shares an item; shared items count more the more recent they are in the query (``decay``).
The ``neighbors`` most similar sessions vote for their items with their similarity. Training
sessions are whole user histories or shop sessions; the model needs no timestamps, so the
"most recent sessions" sampling of the original is replaced by scoring every candidate session
(exact, and fast with sparse products).
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
from shopwise.recommend.candidates.knn import keep_top_per_row


class SessionKNNConfig(BaseModel):
    """Settings of :class:`SessionKNNRecommender`."""

    model_config = ConfigDict(extra="forbid")

    neighbors: int = Field(default=100, ge=1, description="Neighbour sessions that vote.")
    decay: Literal["same", "linear", "div"] = Field(
        default="linear", description="Weight of query items by recency (V-SKNN's weighting)."
    )
    normalize: bool = Field(
        default=True, description="Divide similarity by sqrt of the neighbour session length."
    )
    chunk: int = Field(default=256, ge=1, description="Histories scored per sparse product.")


@dataclass
class SessionKNNState:
    """Learned state: the binary session x item matrix and each session's length factor."""

    sessions: sp.csr_matrix
    sessions_t: sp.csr_matrix
    length_factor: FloatArray


class SessionKNNRecommender:
    """Vector-multiplication session-based kNN.

    Parameters
    ----------
    config
        Settings; see :class:`SessionKNNConfig`.
    """

    name = "sknn"

    def __init__(self, config: SessionKNNConfig | None = None) -> None:
        self.config = config or SessionKNNConfig()
        self.state: SessionKNNState | None = None

    def fit(self, data: InteractionData) -> None:
        """Index the training sessions."""
        sessions = data.user_items(binary=True).astype(np.float32).tocsr()
        lengths = np.diff(sessions.indptr).astype(np.float32)
        if self.config.normalize:
            factor = 1.0 / np.sqrt(np.maximum(lengths, 1.0))
        else:
            factor = np.ones_like(lengths)
        self.state = SessionKNNState(
            sessions=sessions,
            sessions_t=sessions.T.tocsr(),
            length_factor=factor.astype(np.float32),
        )

    def forget(self, rows: Sequence[int]) -> None:
        """Empty the training sessions ``rows``: they are never a neighbour again."""
        check_fitted(self.state, self.name)
        assert self.state is not None
        keep = np.ones(self.state.sessions.shape[0], dtype=np.float32)
        keep[np.asarray(rows, dtype=np.int64)] = 0.0
        sessions = (sp.diags(keep) @ self.state.sessions).tocsr()
        sessions.eliminate_zeros()
        self.state = SessionKNNState(
            sessions=sessions,
            sessions_t=sessions.T.tocsr(),
            length_factor=self.state.length_factor * keep,
        )

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        """Similarity-weighted votes of the nearest training sessions for every item."""
        check_fitted(self.state, self.name)
        assert self.state is not None
        state = self.state
        n_items = state.sessions.shape[1]
        out = np.zeros((len(histories), n_items), dtype=np.float32)
        size = self.config.chunk
        for start in range(0, len(histories), size):
            batch = histories[start : start + size]
            weights = [recency_weights(len(h), self.config.decay) for h in batch]
            query = history_matrix(batch, n_items, weights)
            sims = (query @ state.sessions_t).tocsr()
            sims = sims @ sp.diags(state.length_factor)
            neighbours = keep_top_per_row(sims.tocsr(), self.config.neighbors)
            out[start : start + len(batch)] = (neighbours @ state.sessions).toarray()
        return out

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """Items that most often share a training session with ``item``."""
        check_fitted(self.state, self.name)
        assert self.state is not None
        holders = self.state.sessions_t[item].indices
        counts = np.asarray(self.state.sessions[holders].sum(axis=0), dtype=np.float32).ravel()
        counts[counts == 0] = -np.inf
        return top_similar(counts, item, n)
