"""Small sparse-matrix helpers shared by the candidate generators in this package.

Every generator scores a batch of item histories; most of them turn that batch into a sparse
``histories x items`` matrix first and then multiply it with a learned item-item or item-factor
matrix. Keeping the conversion here means one orientation and one weighting rule for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from shopwise.recommend.candidates._protocol import FloatArray, IntArray


def history_matrix(
    histories: Sequence[IntArray],
    n_items: int,
    weights: Sequence[FloatArray] | None = None,
) -> sp.csr_matrix:
    """A ``len(histories) x n_items`` CSR matrix with one row per history.

    Repeated items are collapsed to their largest weight (1 when ``weights`` is ``None``), and
    indices outside ``0..n_items-1`` are dropped so a model never fails on an unseen item.

    Parameters
    ----------
    histories
        Item indices per history.
    n_items
        Number of columns.
    weights
        Optional weight per history position, aligned with ``histories``.

    Returns
    -------
    scipy.sparse.csr_matrix
        Float32 matrix of shape ``(len(histories), n_items)``.
    """
    n_rows = len(histories)
    lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=n_rows)
    if n_rows == 0 or lengths.sum() == 0:
        return sp.csr_matrix((n_rows, n_items), dtype=np.float32)
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)
    cols = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories])
    if weights is None:
        values = np.ones(len(cols), dtype=np.float32)
    else:
        values = np.concatenate([np.asarray(w, dtype=np.float32) for w in weights])
    keep = (cols >= 0) & (cols < n_items)
    rows, cols, values = rows[keep], cols[keep], values[keep]
    # Keep the largest weight of a repeated (row, item) pair rather than summing them.
    order = np.lexsort((-values, cols, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return sp.csr_matrix(
        (values[first], (rows[first], cols[first])), shape=(n_rows, n_items), dtype=np.float32
    )


def recency_weights(length: int, decay: str) -> FloatArray:
    """Weights of the positions of a history, oldest first, the most recent item weighing 1.

    Parameters
    ----------
    length
        Number of items in the history.
    decay
        ``"same"`` (all 1), ``"linear"`` (``1 - 0.1 * age``, floored at 0.1) or ``"div"``
        (``1 / (age + 1)``), where ``age`` is 0 for the most recent item.

    Returns
    -------
    numpy.ndarray
        Float32 weights of shape ``(length,)``.
    """
    age = np.arange(length - 1, -1, -1, dtype=np.float32)
    weights: FloatArray
    if decay == "same":
        weights = np.ones(length, dtype=np.float32)
    elif decay == "linear":
        weights = np.maximum(1.0 - 0.1 * age, 0.1).astype(np.float32)
    elif decay == "div":
        weights = (1.0 / (age + 1.0)).astype(np.float32)
    else:
        raise ValueError(f"unknown decay {decay!r}; expected 'same', 'linear' or 'div'")
    return weights


def check_fitted(state: object, name: str) -> None:
    """Raise a clear error when a model is used before :meth:`fit`."""
    if state is None:
        raise RuntimeError(f"{name} is not fitted; call fit() first")


def top_similar(similarities: FloatArray, item: int, n: int) -> tuple[IntArray, FloatArray]:
    """The ``n`` best entries of one similarity row, ``item`` itself excluded, best first."""
    row = np.asarray(similarities, dtype=np.float32).copy()
    row[item] = -np.inf
    n = min(n, len(row) - 1)
    if n <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    part = np.argpartition(-row, n - 1)[:n]
    order = part[np.argsort(-row[part], kind="stable")]
    order = order[np.isfinite(row[order])]
    return order.astype(np.int64), row[order]


def recency_matrix(
    histories: Sequence[IntArray], n_items: int, history_length: int, decay: float
) -> sp.csr_matrix:
    """Each history's last ``history_length`` known items, weighted ``decay ** k`` (newest k=0).

    Indices outside ``0..n_items-1`` (items unseen at fit time) are dropped; a repeated item's
    weights add up.
    """
    rows, cols, vals = [], [], []
    for r, history in enumerate(histories):
        items = np.asarray(history, dtype=np.int64)
        recent = items[(items >= 0) & (items < n_items)][-history_length:]
        steps = np.arange(len(recent) - 1, -1, -1, dtype=np.float64)
        rows.append(np.full(len(recent), r, dtype=np.int64))
        cols.append(recent)
        vals.append(np.power(decay, steps).astype(np.float32))
    if not rows:
        return sp.csr_matrix((0, n_items), dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(histories), n_items),
        dtype=np.float32,
    )
