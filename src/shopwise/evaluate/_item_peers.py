"""Item-to-item peers of the harness and the emulation of what serving answers today.

The item-to-item tasks (:mod:`shopwise.evaluate._item_to_item`) ask any object with
``similar_items(item, n)`` (every :class:`~shopwise.recommend.candidates.Recommender` has it) for
the neighbours of each query product. Two classic basket peers live here because nothing in
the engine computes them: raw co-occurrence counts and association rules ranked by lift.
:class:`ServedNeighbours` puts a model's neighbours in the order serving shows them, with
serving's own function (:func:`shopwise.recommend.rank_related`), so the served method is
measured without running the service and without a copy of its rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from shopwise.recommend import rank_related
from shopwise.recommend.candidates import FloatArray, IntArray, InteractionData

CodePath = tuple[int, ...]
"""An item's category path as codes, top level first (empty: no category)."""


class Neighbours(Protocol):
    """Anything that lists the items most related to one item, best first."""

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """At most ``n`` items related to ``item`` (never ``item`` itself) and their scores."""
        ...


def cooccurrence_counts(data: InteractionData) -> sp.csr_matrix:
    """How many sequences (baskets) hold both items, diagonal zero."""
    binary = data.user_items(binary=True).astype(np.float32).tocsc()
    counts = (binary.T @ binary).tocsr()
    counts.setdiag(0.0)
    counts.eliminate_zeros()
    return sp.csr_matrix(counts)


def _row_top(matrix: sp.csr_matrix, item: int, n: int) -> tuple[IntArray, FloatArray]:
    """The ``n`` largest stored entries of one row, ties to the lower column."""
    start, stop = matrix.indptr[item], matrix.indptr[item + 1]
    cols = np.asarray(matrix.indices[start:stop], dtype=np.int64)
    vals = np.asarray(matrix.data[start:stop], dtype=np.float32)
    keep = cols != item
    cols, vals = cols[keep], vals[keep]
    order = np.lexsort((cols, -vals))[:n]
    return cols[order], vals[order]


@dataclass
class CooccurrenceNeighbours:
    """Items bought together most often (the "frequently bought together" count)."""

    name: str = "cooccurrence"
    counts: sp.csr_matrix | None = None

    def fit(self, data: InteractionData) -> None:
        """Count the pairs of every training sequence."""
        self.counts = cooccurrence_counts(data)

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """The ``n`` items sharing most sequences with ``item``."""
        if self.counts is None:
            raise RuntimeError("cooccurrence: call fit() first")
        return _row_top(self.counts, item, n)


@dataclass
class LiftNeighbours:
    """Association rules ``item -> other`` with at least ``min_count`` joint baskets, by lift.

    ``lift = P(a, b) / (P(a) P(b))``; pairs seen fewer than ``min_count`` times are dropped,
    the usual minimum-support rule, because lift alone ranks one-off pairs of rare items first.
    """

    min_count: int = 3
    name: str = "lift"
    lifts: sp.csr_matrix | None = None

    def fit(self, data: InteractionData) -> None:
        """Count pairs and item frequencies, keep the supported pairs, divide into lift."""
        counts = cooccurrence_counts(data).tocoo()
        keep = counts.data >= self.min_count
        rows, cols, joint = counts.row[keep], counts.col[keep], counts.data[keep]
        singles = np.asarray(data.user_items(binary=True).sum(axis=0), dtype=np.float64).ravel()
        lift = joint * data.n_users / np.maximum(singles[rows] * singles[cols], 1.0)
        shape = (data.n_items, data.n_items)
        self.lifts = sp.csr_matrix((lift.astype(np.float32), (rows, cols)), shape=shape)

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """The ``n`` supported rules from ``item`` with the highest lift."""
        if self.lifts is None:
            raise RuntimeError("lift: call fit() first")
        return _row_top(self.lifts, item, n)


def category_paths(top: IntArray | None, leaf: IntArray | None, n_items: int) -> list[CodePath]:
    """Each item's category path from its top-level and leaf codes (``-1``: none), as
    :func:`~shopwise.recommend.rank_related` reads paths; empty paths without categories."""
    if top is None or leaf is None:
        return [()] * n_items
    paths: list[CodePath] = []
    for head, tail in zip(top.tolist(), leaf.tolist(), strict=True):
        path = (head,) if tail in (head, -1) else (head, tail)
        paths.append(path if head >= 0 else ())
    return paths


@dataclass
class ServedNeighbours:
    """What serving answers for one product: a model's neighbours in serving's own order.

    It calls :func:`shopwise.recommend.rank_related`, the function serving ranks with, so the
    benchmark measures the served rule rather than a copy of it.

    Parameters
    ----------
    neighbours
        The neighbour source serving asks (``similar_items`` of the complementary model, or
        :func:`shopwise.recommend.similar_neighbours` of the transition generator).
    paths
        Category path of each item (:func:`category_paths`).
    complementary
        Which of the two routes to reproduce.
    pool
        Neighbours asked of the model (serving's candidate count).
    """

    neighbours: Callable[[int, int], tuple[IntArray, FloatArray]]
    paths: Sequence[CodePath]
    complementary: bool
    pool: int = 100

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """The served list of ``item``, at most ``n`` long (before the category walk fill)."""
        items, scores = self.neighbours(item, self.pool)
        ranked = rank_related(
            items.tolist(),
            scores.tolist(),
            self.paths[item],
            self.paths.__getitem__,
            self.complementary,
        )[:n]
        return (
            np.asarray([i for i, _s in ranked], dtype=np.int64),
            np.asarray([s for _i, s in ranked], dtype=np.float32),
        )
