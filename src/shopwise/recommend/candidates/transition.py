"""Item-to-item transition (co-visitation) candidate generator: the engine's workhorse.

An item is a good next step for a shopper when, in other shoppers' sequences, it tends to
follow the items this shopper touched recently. :meth:`TransitionRecommender.fit` counts those
follow-ups into a sparse item x item matrix (forward within a window, optionally backward with a
smaller weight), weighting each pair by distance, by the implicit-feedback weight of the target
interaction, by the age of the interaction (time decay) and, when timestamps are known, only within
one session. :meth:`~TransitionRecommender.score` mixes the rows of the shopper's recent items,
the most recent weighing most. A tiny popularity prior breaks ties so that every item gets a
strict, meaningful order even where no transition was observed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from shopwise.recommend.candidates._histories import check_fitted, recency_matrix
from shopwise.recommend.candidates._protocol import FloatArray, IntArray, InteractionData, top_n

__all__ = ["TransitionConfig", "TransitionRecommender", "TransitionState", "known_items"]

_POPULARITY_TIE_BREAK = 1e-6


class TransitionConfig(BaseModel):
    """Settings of :class:`TransitionRecommender`."""

    model_config = ConfigDict(extra="forbid")

    window: int = Field(default=3, ge=1)
    """How many following items of each interaction count as its transitions."""
    distance_decay: float = Field(default=0.5, gt=0.0, le=1.0)
    """Weight of a transition ``d`` steps ahead is ``distance_decay ** (d - 1)``."""
    backward_weight: float = Field(default=0.0, ge=0.0)
    """Relative weight of the reverse direction (items that came *before*); 0 disables it."""
    history_length: int = Field(default=50, ge=1)
    """How many of the most recent history items a query uses."""
    recency_decay: float = Field(default=0.6, gt=0.0, le=1.0)
    """Weight of the ``k``-th most recent history item is ``recency_decay ** k`` (newest k=0)."""
    row_normalization: float = Field(default=0.0, ge=0.0, le=1.0)
    """Rows are divided by ``row_sum ** row_normalization`` (1 gives conditional probabilities)."""
    popularity_penalty: float = Field(default=0.0, ge=0.0, le=1.0)
    """Columns are divided by ``item_count ** popularity_penalty`` (favours less popular items)."""
    time_half_life_days: float | None = Field(default=None, gt=0.0)
    """Interactions lose half their weight per this many days before the newest one (needs
    timestamps; ``None`` disables time decay)."""
    session_gap_minutes: float | None = Field(default=None, gt=0.0)
    """With timestamps, two events further apart than this belong to different sessions and
    never form a transition; ``None`` links every consecutive pair of a sequence."""


@dataclass
class TransitionState:
    """Learned state: the transition matrix and the popularity prior."""

    transitions: sp.csr_matrix
    """``transitions[i, j]``: weighted evidence that ``j`` follows ``i``."""
    popularity: FloatArray
    """Interaction count of each item scaled to ``[0, 1]``; breaks ties between scores."""


def known_items(history: IntArray, n_items: int) -> IntArray:
    """``history`` without indices outside the catalog (items unseen when the model was fitted)."""
    items = np.asarray(history, dtype=np.int64)
    return items[(items >= 0) & (items < n_items)]


def _flatten(data: InteractionData) -> tuple[IntArray, IntArray, FloatArray, IntArray | None]:
    """Items, owner row, feedback weight and timestamp of every interaction, in order."""
    lengths = np.fromiter((len(s) for s in data.sequences), dtype=np.int64, count=data.n_users)
    items = (
        np.concatenate(data.sequences).astype(np.int64)
        if data.n_users
        else np.empty(0, dtype=np.int64)
    )
    owners = np.repeat(np.arange(data.n_users, dtype=np.int64), lengths)
    if data.weights is not None and data.n_users:
        weights = np.concatenate(data.weights).astype(np.float32)
    else:
        weights = np.ones(len(items), dtype=np.float32)
    times = None
    if data.timestamps is not None and data.n_users:
        times = np.concatenate(data.timestamps).astype(np.int64)
    return items, owners, weights, times


def _age_weights(times: IntArray | None, half_life_days: float | None) -> FloatArray | None:
    if times is None or half_life_days is None or len(times) == 0:
        return None
    age_days = (times.max() - times).astype(np.float64) / 86_400.0
    weights: FloatArray = np.power(0.5, age_days / half_life_days).astype(np.float32)
    return weights


class TransitionRecommender:
    """Recommends the items that follow the shopper's recent items in other sequences.

    Parameters
    ----------
    config
        Window, decays and normalization; defaults reproduce the harness's item-transition peer.
    name
        Name under which the harness and the ranker's features refer to this generator.
    """

    def __init__(self, config: TransitionConfig | None = None, name: str = "transition") -> None:
        self.config = config or TransitionConfig()
        self.name = name
        self.state: TransitionState | None = None

    def fit(self, data: InteractionData) -> None:
        """Count the weighted transitions of every training sequence."""
        cfg = self.config
        items, owners, weights, times = _flatten(data)
        age = _age_weights(times, cfg.time_half_life_days)
        if age is not None:
            weights = weights * age
        gap = None if cfg.session_gap_minutes is None else cfg.session_gap_minutes * 60.0
        rows: list[IntArray] = []
        cols: list[IntArray] = []
        vals: list[FloatArray] = []
        for d in range(1, cfg.window + 1):
            same = owners[:-d] == owners[d:]
            if gap is not None and times is not None:
                # A pair d apart stays in one session only if no gap inside exceeds the limit.
                gaps = np.diff(times) > gap
                breaks = np.concatenate([[0], np.cumsum(gaps)])
                same &= breaks[:-d] == breaks[d:]
            src, dst = items[:-d][same], items[d:][same]
            w = (cfg.distance_decay ** (d - 1)) * weights[d:][same]
            rows.append(src)
            cols.append(dst)
            vals.append(w.astype(np.float32))
            if cfg.backward_weight > 0:
                rows.append(dst)
                cols.append(src)
                vals.append((cfg.backward_weight * w).astype(np.float32))
        matrix = self._build(rows, cols, vals, data.n_items)
        counts = np.bincount(items, minlength=data.n_items).astype(np.float32)
        self.state = TransitionState(
            transitions=self._normalize(matrix, counts),
            popularity=counts / max(float(counts.max(initial=0.0)), 1.0),
        )

    @staticmethod
    def _build(
        rows: list[IntArray], cols: list[IntArray], vals: list[FloatArray], n_items: int
    ) -> sp.csr_matrix:
        if not rows:
            return sp.csr_matrix((n_items, n_items), dtype=np.float32)
        matrix = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_items, n_items),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        return matrix

    def _normalize(self, matrix: sp.csr_matrix, counts: FloatArray) -> sp.csr_matrix:
        cfg = self.config
        if cfg.row_normalization > 0:
            row_sums = np.asarray(matrix.sum(axis=1)).ravel()
            scale = np.power(np.maximum(row_sums, 1e-12), -cfg.row_normalization)
            matrix = sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ matrix)
        if cfg.popularity_penalty > 0:
            scale = np.power(np.maximum(counts, 1.0), -cfg.popularity_penalty)
            matrix = sp.csr_matrix(matrix @ sp.diags(scale.astype(np.float32)))
        return matrix.astype(np.float32)

    def _reverse(self, state: TransitionState) -> sp.csr_matrix:
        """The transposed transitions, made on first use (a column of a CSR matrix is slow)."""
        reverse = self.__dict__.get("_reversed")
        if reverse is None or reverse[0] is not state:
            reverse = (state, sp.csr_matrix(state.transitions.T, dtype=np.float32))
            self.__dict__["_reversed"] = reverse
        matrix: sp.csr_matrix = reverse[1]
        return matrix

    def _require_state(self) -> TransitionState:
        check_fitted(self.state, self.name)
        assert self.state is not None
        return self.state

    def query_matrix(self, histories: Sequence[IntArray], n_items: int) -> sp.csr_matrix:
        """Recency-weighted indicator of each history's recent items, one row per history."""
        cfg = self.config
        return recency_matrix(histories, n_items, cfg.history_length, cfg.recency_decay)

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        """Transition scores of every item for each history (see :class:`Recommender`)."""
        state = self._require_state()
        n_items = state.transitions.shape[0]
        query = self.query_matrix(histories, n_items)
        scores = np.asarray((query @ state.transitions).todense(), dtype=np.float32)
        scores += _POPULARITY_TIE_BREAK * state.popularity[None, :]
        return scores

    def similar_items(
        self, item: int, n: int, backward: float = 0.0
    ) -> tuple[IntArray, FloatArray]:
        """Items that most often follow (or, with ``backward_weight``, precede) ``item``;
        ``backward`` adds the items that precede it with that weight at query time."""
        state = self._require_state()
        row = state.transitions.getrow(item).toarray().ravel().astype(np.float32)
        if backward > 0:
            row += backward * self._reverse(state).getrow(item).toarray().ravel()
        row += _POPULARITY_TIE_BREAK * state.popularity
        return top_n(row, n, np.asarray([item], dtype=np.int64))
