"""The contract every candidate generator keeps, and the data it learns from.

One orientation everywhere: rows are users (or sessions), columns are items, and items are
dense integer indices ``0..n_items-1``. Mapping shop ids to indices is the caller's job
(:class:`ItemIndex`). A generator is fitted on :class:`InteractionData` and then scores item
histories: the harness asks for full score vectors (every item), serving asks for the top ``n``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ItemIndex:
    """Bidirectional map between shop item ids (strings) and dense indices."""

    ids: tuple[str, ...]
    positions: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", {item: i for i, item in enumerate(self.ids)})

    def __len__(self) -> int:
        return len(self.ids)

    def encode(self, items: Sequence[str]) -> IntArray:
        """Indices of the known items among ``items``; unknown ids are skipped."""
        known = [self.positions[item] for item in items if item in self.positions]
        return np.asarray(known, dtype=np.int64)

    def decode(self, indices: npt.NDArray[np.integer]) -> list[str]:
        return [self.ids[int(i)] for i in indices]


@dataclass(frozen=True)
class ItemContent:
    """What is known about items beyond interactions (for content models and the ranker).

    Every list is aligned with item indices; an empty string or list means unknown.
    """

    texts: list[str]
    categories: list[list[str]]
    brands: list[str]
    prices: FloatArray | None = None


@dataclass(frozen=True)
class InteractionData:
    """Training interactions, one chronological item sequence per user or session.

    Parameters
    ----------
    sequences
        Item indices per user, oldest first.
    n_items
        Size of the item universe (indices are ``< n_items``).
    weights
        Optional implicit-feedback weight of each interaction (view < cart < purchase),
        aligned with ``sequences``. ``None`` means weight 1.
    timestamps
        Optional unix seconds of each interaction, aligned with ``sequences``.
    content
        Optional item content, aligned with item indices.
    """

    sequences: list[IntArray]
    n_items: int
    weights: list[FloatArray] | None = None
    timestamps: list[IntArray] | None = None
    content: ItemContent | None = None

    @property
    def n_users(self) -> int:
        return len(self.sequences)

    def user_items(self, binary: bool = True) -> sp.csr_matrix:
        """The user x item matrix; repeated interactions are summed unless ``binary``."""
        lengths = np.fromiter((len(s) for s in self.sequences), dtype=np.int64, count=self.n_users)
        rows = np.repeat(np.arange(self.n_users, dtype=np.int64), lengths)
        cols = np.concatenate(self.sequences) if self.n_users else np.empty(0, dtype=np.int64)
        if self.weights is None or binary:
            values = np.ones(len(cols), dtype=np.float32)
        else:
            values = np.concatenate(self.weights).astype(np.float32)
        matrix = sp.csr_matrix((values, (rows, cols)), shape=(self.n_users, self.n_items))
        matrix.sum_duplicates()
        if binary:
            matrix.data[:] = 1.0
        return matrix


@runtime_checkable
class Recommender(Protocol):
    """A candidate generator: fitted once, then asked to score item histories.

    Implementations are used unchanged by the evaluation harness and by serving.
    """

    name: str

    def fit(self, data: InteractionData) -> None:
        """Learn from ``data``; may be called again to retrain from scratch."""
        ...

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        """Scores of every item for each history: shape ``(len(histories), n_items)``.

        Higher is better; ``-inf`` marks items the model will never recommend.
        """
        ...

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """The ``n`` items most related to ``item`` (itself excluded), best first."""
        ...


@runtime_checkable
class KeepsUserRows(Protocol):
    """A generator that keeps a row per training user (or session) in its fitted state, which
    erasing a person must remove at once, without retraining."""

    def forget(self, rows: Sequence[int]) -> None:
        """Remove every trace of training ``rows`` (positions in the fitted data's users)."""
        ...


def top_n(
    scores: FloatArray, n: int, exclude: IntArray | None = None
) -> tuple[IntArray, FloatArray]:
    """Best ``n`` items of one score vector, best first, skipping ``exclude`` and ``-inf``."""
    scores = scores.astype(np.float32, copy=True)
    if exclude is not None and len(exclude):
        scores[exclude] = -np.inf
    n = min(n, len(scores))
    if n <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    part = np.argpartition(-scores, n - 1)[:n]
    order = part[np.argsort(-scores[part], kind="stable")]
    keep = order[np.isfinite(scores[order])]
    return keep.astype(np.int64), scores[keep]


def recommend(
    model: Recommender, history: IntArray, n: int, exclude_history: bool = True
) -> tuple[IntArray, FloatArray]:
    """Top ``n`` items for one history, the history itself masked unless asked otherwise."""
    scores = model.score([history])[0]
    return top_n(scores, n, history if exclude_history else None)
