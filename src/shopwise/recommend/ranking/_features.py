"""Feature rows of the second stage: one row per (history, candidate item) pair.

The candidate generators each score every item for a history; the union of their top items
(plus, optionally, the most recent history items themselves) becomes the candidate set. Each
candidate gets every generator's score, rank and score relative to the best one, the item's
popularity and recent popularity, how it relates to the history (already seen and how recently,
attribute overlap with the last items, price relative to the history's usual spend) and the
context of the query (history length, popularity of the last item). Everything is vectorized over
a batch of histories so that serving one history and evaluating thousands share one code path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from shopwise.recommend.candidates import FloatArray, IntArray, InteractionData

__all__ = ["CandidateBatch", "CandidateConfig", "ItemStats", "build_candidates", "fit_item_stats"]

T = TypeVar("T")

PARALLEL_CELLS: Final = 1 << 20
"""Score cells of one generator (histories x items) from which a batch's per-generator work runs
in threads, one generator each: a training batch (hundreds of histories x the catalog) gains
(``benchmarks/candidates.py``); serving one shopper stays in its own thread, where starting
threads would cost more than they save."""

_NOT_SEEN = 1_000.0
"""Feature value for "this candidate is not among the recent history items"."""


class CandidateConfig(BaseModel):
    """How many candidates each generator contributes and which context features are built."""

    model_config = ConfigDict(extra="forbid")

    per_generator: int = Field(default=50, ge=1)
    """Top items taken from each generator (history items excluded); their union is ranked."""
    history_candidates: int = Field(default=5, ge=0)
    """The most recent distinct history items also offered as candidates (repeat purchases,
    re-visits in a session); the ranker learns from validation whether they ever win."""
    recent_interactions: int = Field(default=3, ge=1)
    """Without timestamps, "recent popularity" counts each sequence's last this-many items."""
    recent_half_life_days: float = Field(default=7.0, gt=0.0)
    """With timestamps, recent popularity decays with this half-life before the newest event."""


@dataclass
class ItemStats:
    """Per-item facts learned from training data, used as ranker features."""

    log_popularity: FloatArray
    """``log1p`` of the interaction count."""
    log_recent_popularity: FloatArray
    """``log1p`` of the time-decayed (or end-of-sequence) interaction count."""
    attributes: sp.csr_matrix
    """Binary item x attribute matrix (categories and brand); may have zero columns."""
    attribute_counts: FloatArray
    """Number of attributes of each item."""
    log_prices: FloatArray | None
    """``log1p`` of each item's price, or ``None`` when prices are unknown."""


@dataclass
class CandidateBatch:
    """Candidates of a batch of histories and their feature rows."""

    rows: IntArray
    """Index of the history each candidate belongs to (sorted ascending)."""
    items: IntArray
    """Candidate item indices."""
    features: npt.NDArray[np.float32]
    """Feature matrix, shape ``(len(items), len(feature_names))``."""
    feature_names: list[str]


def _attribute_matrix(data: InteractionData) -> sp.csr_matrix:
    content = data.content
    if content is None:
        return sp.csr_matrix((data.n_items, 0), dtype=np.float32)
    vocabulary: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for item in range(data.n_items):
        tokens = [f"c:{c}" for c in content.categories[item]]
        if content.brands[item]:
            tokens.append(f"b:{content.brands[item]}")
        for token in set(tokens):
            rows.append(item)
            cols.append(vocabulary.setdefault(token, len(vocabulary)))
    values = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((values, (rows, cols)), shape=(data.n_items, len(vocabulary)))


def _recent_counts(data: InteractionData, config: CandidateConfig) -> FloatArray:
    counts = np.zeros(data.n_items, dtype=np.float64)
    if data.timestamps is not None and data.n_users:
        times = np.concatenate(data.timestamps).astype(np.float64)
        items = np.concatenate(data.sequences)
        age_days = (times.max() - times) / 86_400.0
        np.add.at(counts, items, np.power(0.5, age_days / config.recent_half_life_days))
    else:
        for sequence in data.sequences:
            np.add.at(counts, sequence[-config.recent_interactions :], 1.0)
    return counts.astype(np.float32)


def fit_item_stats(data: InteractionData, config: CandidateConfig) -> ItemStats:
    """Popularity, recent popularity, attributes and prices of every item in ``data``."""
    counts = np.zeros(data.n_items, dtype=np.float32)
    if data.n_users:
        counts = np.bincount(np.concatenate(data.sequences), minlength=data.n_items).astype(
            np.float32
        )
    attributes = _attribute_matrix(data)
    prices = None if data.content is None else data.content.prices
    return ItemStats(
        log_popularity=np.log1p(counts).astype(np.float32),
        log_recent_popularity=np.log1p(_recent_counts(data, config)).astype(np.float32),
        attributes=attributes,
        attribute_counts=np.asarray(attributes.sum(axis=1), dtype=np.float32).ravel(),
        log_prices=None if prices is None else np.log1p(np.maximum(prices, 0.0)).astype(np.float32),
    )


_HISTORY_DEPTH = 50
"""Most recent history items the history-relation features look at."""


@dataclass
class _HistoryIndex:
    """Where each (history, item) pair occurs in the recent history, as sorted lookup keys.

    ``keys`` are ``row * n_items + item`` of every distinct item among a history's last
    :data:`_HISTORY_DEPTH` items; ``steps`` is 1 + steps back to its latest occurrence and
    ``counts`` how often it occurs there. Plain sorted arrays keep one history as cheap as many.
    """

    keys: IntArray
    steps: FloatArray
    counts: FloatArray
    n_items: int

    @classmethod
    def build(cls, histories: Sequence[IntArray], n_items: int) -> _HistoryIndex:
        recent = [np.asarray(h, dtype=np.int64)[-_HISTORY_DEPTH:][::-1] for h in histories]
        lengths = np.asarray([len(h) for h in recent], dtype=np.int64)
        rows = np.repeat(np.arange(len(recent), dtype=np.int64), lengths)
        items = np.concatenate(recent) if recent else np.empty(0, dtype=np.int64)
        # Position of each interaction within its (reversed) history: 0 = the latest.
        position = np.arange(len(items), dtype=np.int64) - np.repeat(
            np.cumsum(lengths) - lengths, lengths
        )
        keys, first, counts = np.unique(
            rows * n_items + items, return_index=True, return_counts=True
        )
        return cls(
            keys=keys.astype(np.int64),
            steps=(position[first] + 1).astype(np.float32),
            counts=counts.astype(np.float32),
            n_items=n_items,
        )

    def pairs(self, depth: int = _HISTORY_DEPTH) -> tuple[IntArray, IntArray]:
        """Rows and items of the distinct items among each history's last ``depth`` items."""
        keys = self.keys[self.steps <= depth]
        return keys // self.n_items, keys % self.n_items

    def lookup(self, rows: IntArray, items: IntArray) -> tuple[FloatArray, FloatArray]:
        """Steps back (0 = not in the recent history) and occurrence count of each pair."""
        wanted = rows.astype(np.int64) * self.n_items + items
        at = np.minimum(np.searchsorted(self.keys, wanted), max(len(self.keys) - 1, 0))
        found = self.keys[at] == wanted if len(self.keys) else np.zeros(len(wanted), dtype=np.bool_)
        steps = np.where(found, self.steps[at] if len(self.keys) else 0.0, 0.0)
        counts = np.where(found, self.counts[at] if len(self.keys) else 0.0, 0.0)
        return steps.astype(np.float32), counts.astype(np.float32)


@dataclass
class _Proposal:
    """One generator's top items for each history (history masked), as :func:`_propose` finds."""

    top: IntArray
    """``(batch, k)`` item indices, best first."""
    finite: npt.NDArray[np.bool_]
    """Which of ``top`` the generator scored at all (only those become candidates)."""
    rank: npt.NDArray[np.float32]
    """``(batch, n_items)``: each item's place in ``top``, ``k`` for the rest."""
    best: FloatArray
    """Each history's best finite score over all items (``0`` stands in for non-finite)."""


def _propose(matrix: FloatArray, seen: tuple[IntArray, IntArray], k: int) -> _Proposal:
    """A generator's proposal for a batch: its top ``k`` items outside the history."""
    masked = matrix.copy()
    masked[seen] = -np.inf
    top = np.argpartition(-masked, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(masked, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    rank = np.full(matrix.shape, float(k), dtype=np.float32)
    np.put_along_axis(rank, top, np.arange(k, dtype=np.float32)[None, :], axis=1)
    finite = np.isfinite(np.take_along_axis(masked, top, axis=1))
    best = np.max(np.where(np.isfinite(matrix), matrix, 0.0), axis=1)
    return _Proposal(top, finite, rank, best)


def _generator_columns(
    matrix: FloatArray, proposal: _Proposal, rows: IntArray, items: IntArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Score, rank and score relative to the history's best of each candidate, for one
    generator."""
    picked = matrix[rows, items]
    # -inf (never recommended by this generator) becomes NaN: LightGBM's "missing".
    values = np.where(np.isfinite(picked), picked, np.nan)
    best = proposal.best[rows]
    relative = np.full(len(values), np.nan, dtype=np.float32)
    np.divide(values, best, out=relative, where=best > 0)
    return values, proposal.rank[rows, items], relative


def _per_generator(
    work: Callable[[str, FloatArray], T], scores: Mapping[str, FloatArray], parallel_cells: int
) -> dict[str, T]:
    """``work(name, matrix)`` for every generator, in threads when a matrix has
    ``parallel_cells`` or more (numpy's partitions and copies release the GIL); in ``scores``'s
    order."""
    cells = max((m.size for m in scores.values()), default=0)
    workers = min(len(scores), _cpus())
    if workers < 2 or cells < parallel_cells:
        return {name: work(name, matrix) for name, matrix in scores.items()}
    with ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(work, name, matrix) for name, matrix in scores.items()}
        return {name: future.result() for name, future in futures.items()}


def _cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _attribute_keys(attributes: sp.csr_matrix, items: IntArray) -> IntArray:
    """``pair * n_attributes + attribute`` for every attribute of ``items[pair]``."""
    starts = attributes.indptr[items].astype(np.int64)
    lengths = attributes.indptr[items + 1].astype(np.int64) - starts
    pair = np.repeat(np.arange(len(items), dtype=np.int64), lengths)
    offset = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(lengths) - lengths, lengths
    )
    columns = attributes.indices[np.repeat(starts, lengths) + offset].astype(np.int64)
    keys: IntArray = pair * attributes.shape[1] + columns
    return keys


def _pair_attribute_overlap(
    stats: ItemStats, items: IntArray, others: IntArray
) -> npt.NDArray[np.float32]:
    """Jaccard overlap of the attributes of ``items[i]`` and ``others[i]``."""
    n_attributes = stats.attributes.shape[1]
    if n_attributes == 0:
        return np.zeros(len(items), dtype=np.float32)
    common = np.intersect1d(
        _attribute_keys(stats.attributes, items),
        _attribute_keys(stats.attributes, others),
        assume_unique=True,
    )
    overlap = np.bincount(common // n_attributes, minlength=len(items)).astype(np.float32)
    union = stats.attribute_counts[items] + stats.attribute_counts[others] - overlap
    return np.where(union > 0, overlap / np.maximum(union, 1.0), 0.0).astype(np.float32)


def build_candidates(
    histories: Sequence[IntArray],
    scores: Mapping[str, FloatArray],
    stats: ItemStats,
    config: CandidateConfig,
    *,
    parallel_cells: int = PARALLEL_CELLS,
) -> CandidateBatch:
    """Candidate union of ``scores`` for ``histories`` and one feature row per candidate.

    Parameters
    ----------
    histories
        Item histories, oldest first (non-empty).
    scores
        Full score matrix ``(len(histories), n_items)`` of each generator, by generator name.
    stats
        Item facts from :func:`fit_item_stats` on the generators' training data.
    config
        Candidate counts and context settings.
    parallel_cells
        Score cells of one generator from which the per-generator work runs in threads
        (:data:`PARALLEL_CELLS`; the output is the same either way).
    """
    n_items = len(stats.log_popularity)
    seen = _HistoryIndex.build(histories, n_items)
    masked = seen.pairs()
    k = min(config.per_generator, n_items)
    proposals = _per_generator(
        lambda _name, matrix: _propose(matrix, masked, k), scores, parallel_cells
    )
    chosen = np.zeros((len(histories), n_items), dtype=np.bool_)
    for proposal in proposals.values():
        taken = proposal.finite | np.take_along_axis(chosen, proposal.top, axis=1)
        np.put_along_axis(chosen, proposal.top, taken, axis=1)
    if config.history_candidates:
        chosen[seen.pairs(config.history_candidates)] = True
    rows, items = np.nonzero(chosen)
    found = _per_generator(
        lambda name, matrix: _generator_columns(matrix, proposals[name], rows, items),
        scores,
        parallel_cells,
    )
    columns: dict[str, npt.NDArray[np.float32]] = {}
    for name, (values, rank, relative) in found.items():
        columns[f"{name}__score"] = values
        columns[f"{name}__rank"] = rank
        columns[f"{name}__relative"] = relative
    proposed = np.stack([columns[f"{n}__rank"] for n in scores], axis=1)
    columns["n_generators"] = (proposed < config.per_generator).sum(axis=1).astype(np.float32)
    columns.update(_context_features(histories, seen, stats, rows, items))
    names = list(columns)
    features = np.stack([columns[n].astype(np.float32) for n in names], axis=1)
    return CandidateBatch(
        rows=rows.astype(np.int64),
        items=items.astype(np.int64),
        features=features,
        feature_names=names,
    )


def _context_features(
    histories: Sequence[IntArray],
    seen: _HistoryIndex,
    stats: ItemStats,
    rows: IntArray,
    items: IntArray,
) -> dict[str, npt.NDArray[np.float32]]:
    """Item, history-relation and query-context features of each candidate."""
    last = np.asarray([int(h[-1]) for h in histories], dtype=np.int64)
    before_last = np.asarray([int(h[-2]) if len(h) > 1 else int(h[-1]) for h in histories])
    lengths = np.asarray([len(h) for h in histories], dtype=np.float32)
    steps_back, counts = seen.lookup(rows, items)
    columns = {
        "item__log_popularity": stats.log_popularity[items],
        "item__log_recent_popularity": stats.log_recent_popularity[items],
        "item__n_attributes": stats.attribute_counts[items],
        "history__steps_back": np.where(steps_back > 0, steps_back, _NOT_SEEN),
        "history__count": counts,
        "history__attribute_overlap_last": _pair_attribute_overlap(stats, items, last[rows]),
        "history__attribute_overlap_previous": _pair_attribute_overlap(
            stats, items, before_last[rows]
        ),
        "context__history_length": lengths[rows],
        "context__last_item_log_popularity": stats.log_popularity[last][rows],
    }
    if stats.log_prices is not None:
        mean_price = np.asarray(
            [float(stats.log_prices[np.asarray(h)].mean()) for h in histories], dtype=np.float32
        )
        columns["item__log_price"] = stats.log_prices[items]
        columns["history__log_price_ratio"] = stats.log_prices[items] - mean_price[rows]
    return {name: np.asarray(values, dtype=np.float32) for name, values in columns.items()}
