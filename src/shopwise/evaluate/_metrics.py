"""Ranking metrics of the offline harness: accuracy from target ranks, and beyond accuracy.

Accuracy metrics take the 0-based rank of every relevant item of a query among all items.
Ties are broken by item index, lower first, exactly as :func:`top_n` orders the list a shopper
would be served, and a masked target (score ``-inf``) never counts. With one target per query,
``HR@K`` is the hit rate, ``NDCG@K`` is ``1 / log2(rank + 2)`` and ``MRR@K`` is
``1 / (rank + 1)`` for ``rank < K``; with several targets ``HR@K`` counts a query with any hit,
``NDCG@K`` divides DCG by the ideal DCG and ``Recall@K`` is the share of targets found.
Beyond-accuracy metrics read the top-``K`` lists; see :func:`beyond_accuracy_metrics` for their
definitions. Every value is a fraction in ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from shopwise.recommend.candidates import FloatArray, IntArray

CUTOFFS: tuple[int, ...] = (5, 10, 20)
"""Cut-offs at which HR and NDCG are reported; MRR is reported at the largest."""


def target_ranks(scores: FloatArray, rows: IntArray, items: IntArray) -> IntArray:
    """0-based rank of ``items[j]`` in score row ``rows[j]``, ties going to the lower index.

    Parameters
    ----------
    scores
        ``(n_queries, n_items)`` scores, masked entries ``-inf``.
    rows, items
        Query row and target item of each pair.

    Returns
    -------
    numpy.ndarray
        Rank of each pair; ``n_items`` when the target is masked or not finite.
    """
    n_items = scores.shape[1]
    ranks = np.empty(len(rows), dtype=np.int64)
    identity = len(rows) == scores.shape[0] and np.array_equal(rows, np.arange(len(rows)))
    columns = np.arange(n_items)[None, :]
    chunk = 256
    for start in range(0, len(rows), chunk):
        stop = min(start + chunk, len(rows))
        r, i = rows[start:stop], items[start:stop]
        block = scores[start:stop] if identity else scores[r]
        own = block[np.arange(len(r)), i][:, None]
        ahead = np.count_nonzero(block > own, axis=1)
        ahead += np.count_nonzero((block == own) & (columns < i[:, None]), axis=1)
        ahead[~np.isfinite(own[:, 0])] = n_items
        ranks[start:stop] = ahead
    return ranks


def accuracy_metrics(
    ranks: Sequence[IntArray], cutoffs: Sequence[int] = CUTOFFS
) -> dict[str, float]:
    """HR@K, NDCG@K, Recall@K for each cut-off and MRR at the largest, averaged over queries.

    Parameters
    ----------
    ranks
        Per query, the 0-based ranks of its relevant items (at least one each).
    cutoffs
        The ``K`` values.

    Returns
    -------
    dict
        Metric name to mean value; empty input gives zeros.
    """
    n = len(ranks)
    totals: dict[str, float] = {}
    for k in cutoffs:
        totals[f"HR@{k}"] = totals[f"NDCG@{k}"] = totals[f"Recall@{k}"] = 0.0
    top = max(cutoffs)
    totals[f"MRR@{top}"] = 0.0
    for query in ranks:
        sorted_ranks = np.sort(np.asarray(query, dtype=np.int64))
        for k in cutoffs:
            hits = sorted_ranks[sorted_ranks < k]
            ideal = np.sum(1.0 / np.log2(np.arange(min(len(sorted_ranks), k)) + 2.0))
            totals[f"HR@{k}"] += float(len(hits) > 0)
            totals[f"NDCG@{k}"] += float(np.sum(1.0 / np.log2(hits + 2.0)) / ideal)
            totals[f"Recall@{k}"] += len(hits) / len(sorted_ranks)
        if len(sorted_ranks) and sorted_ranks[0] < top:
            totals[f"MRR@{top}"] += 1.0 / (sorted_ranks[0] + 1.0)
    return {name: (value / n if n else 0.0) for name, value in totals.items()}


def top_k_lists(scores: FloatArray, k: int, block: int = 64) -> IntArray:
    """Best ``k`` item indices per row, best first, ties to the lower index; ``-1`` pads rows
    with fewer than ``k`` finite scores.

    A full ``argpartition`` per row is the slowest step of an evaluation, so candidates are
    found first: the ``k``-th largest of the per-block maxima is a score at least ``k`` items
    reach, and only items at or above it are sorted.
    """
    n_rows, n_items = scores.shape
    k = min(k, n_items)
    block = max(1, min(block, n_items // (2 * k)))
    maxima = np.maximum.reduceat(scores, np.arange(0, n_items, block), axis=1)
    threshold = -np.partition(-maxima, k - 1, axis=1)[:, k - 1]
    rows, cols = np.nonzero(scores >= threshold[:, None])
    values = scores[rows, cols]
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    starts = np.searchsorted(rows, np.arange(n_rows))
    rank = np.arange(len(rows)) - starts[rows]
    keep = (rank < k) & np.isfinite(values)
    best = np.full((n_rows, k), -1, dtype=np.int64)
    best[rows[keep], rank[keep]] = cols[keep]
    return best


def item_popularity(user_items: sp.csr_matrix) -> npt.NDArray[np.float64]:
    """Share of training users (rows) who interacted with each item."""
    binary = user_items.copy()
    binary.data[:] = 1.0
    counts = np.asarray(binary.sum(axis=0), dtype=np.float64).ravel()
    share: npt.NDArray[np.float64] = counts / max(user_items.shape[0], 1)
    return share


def _normalised_rows(vectors: sp.csr_matrix) -> sp.csr_matrix:
    vectors = sp.csr_matrix(vectors, dtype=np.float64)
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ vectors)


def intra_list_diversity(
    lists: IntArray, item_vectors: sp.csr_matrix, max_lists: int, rng: np.random.Generator
) -> float:
    """Mean pairwise cosine distance ``1 - cos(v_i, v_j)`` inside each list.

    ``item_vectors`` holds one row per item: attribute indicators when the dataset has them,
    otherwise the item's column of the training user x item matrix (co-occurrence). Items
    without any feature are at distance 1 from everything. Lists are sampled down to
    ``max_lists`` (seeded) because the mean converges long before all lists are read.
    """
    if len(lists) > max_lists:
        lists = lists[rng.choice(len(lists), size=max_lists, replace=False)]
    unit = _normalised_rows(item_vectors)
    distances: list[float] = []
    for row in lists:
        items = row[row >= 0]
        if len(items) < 2:
            continue
        sub = unit[items]
        cos = np.asarray((sub @ sub.T).toarray())
        upper = np.triu_indices(len(items), 1)
        distances.append(float(np.mean(1.0 - np.clip(cos[upper], 0.0, 1.0))))
    return float(np.mean(distances)) if distances else 0.0


def beyond_accuracy_metrics(
    lists: IntArray,
    popularity: npt.NDArray[np.float64],
    n_train_users: int,
    item_vectors: sp.csr_matrix,
    rng: np.random.Generator,
    max_lists: int = 2000,
) -> dict[str, float]:
    """Coverage, novelty, popularity bias and intra-list diversity of top-``K`` lists.

    Parameters
    ----------
    lists
        ``(n_queries, K)`` recommended items, ``-1`` for empty slots.
    popularity
        Share of training users who interacted with each item.
    n_train_users
        Number of training users (normalises novelty).
    item_vectors
        Features per item for diversity (see :func:`intra_list_diversity`).
    rng
        Generator for the diversity sample.
    max_lists
        Lists sampled for diversity.

    Returns
    -------
    dict
        ``coverage@K``: distinct recommended items over catalog size; ``novelty@K``: mean
        self-information ``-log2 p(i)`` of recommended items divided by its maximum
        ``log2(n_train_users)`` (an item nobody had counts as seen once); ``popularity_bias@K``:
        mean share of training users who had each recommended item (ARP); ``ILD@K``.
    """
    k = lists.shape[1]
    shown = lists[lists >= 0]
    if len(shown) == 0:
        return {
            f"coverage@{k}": 0.0,
            f"novelty@{k}": 0.0,
            f"popularity_bias@{k}": 0.0,
            f"ILD@{k}": 0.0,
        }
    floor = 1.0 / max(n_train_users, 2)
    info = -np.log2(np.maximum(popularity[shown], floor))
    return {
        f"coverage@{k}": float(len(np.unique(shown)) / len(popularity)),
        f"novelty@{k}": float(np.mean(info) / np.log2(max(n_train_users, 2))),
        f"popularity_bias@{k}": float(np.mean(popularity[shown])),
        f"ILD@{k}": intra_list_diversity(lists, item_vectors, max_lists, rng),
    }
