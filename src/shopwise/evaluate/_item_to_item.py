"""Item-to-item tasks: the product page's "similar" and "complementary" answers, measured.

Two protocols, each answered by any object with ``similar_items(item, n)``:

* complementary (basket completion): split invoices by date (the last ``test_share`` of the
  selling days are the test); from each test invoice with at least two distinct products one
  product, drawn with a seeded generator, is hidden and the others are the query. A hidden
  product never sold before the cutoff cannot be answered by any method and its invoice is
  dropped (counted).
* similar (item-to-item next item): the one query product is the last item a user or session
  had before the target, as the next-item and session protocols define the target; an example
  whose target is the query product itself is dropped (counted), because an answer never
  contains its own query.

A query's answer sums the scores of each query product's ``pool`` best neighbours, drops the
query products and keeps the best ``k`` (ties to the lower item index). The metrics are HR@k
and NDCG@k of the one hidden target, catalog coverage, the share of queries answered at all
and, where the data set has categories, the share of answers in a query product's top-level
category.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shopwise.evaluate._datasets import SessionExamples
from shopwise.evaluate._errors import EvaluationInputError
from shopwise.evaluate._item_peers import Neighbours
from shopwise.recommend.candidates import IntArray, InteractionData, ItemContent
from shopwise.schema import Columns

K = 10
"""Answer length (the HR and NDCG cut-off)."""

POOL = 100
"""Neighbours asked per query product (serving asks for as many)."""

BASKET = "basket"
"""Column of the invoice (basket) id in an invoice-line frame."""


@dataclass(frozen=True)
class ItemQueries:
    """Query products and the one hidden target of each query."""

    queries: list[IntArray]
    targets: IntArray

    def __len__(self) -> int:
        return len(self.queries)

    def subset(self, rows: Sequence[int]) -> ItemQueries:
        """The queries at ``rows``, in that order."""
        return ItemQueries([self.queries[i] for i in rows], self.targets[np.asarray(rows)])


@dataclass(frozen=True)
class ItemTask:
    """Training data and queries of one item-to-item task.

    ``train`` is what the peers learn from (baskets, or the users' sequences); ``served_train``
    is what the engine's event store holds (each customer's sequence), which serving's model is
    fitted on. ``top_categories`` and ``leaf_categories`` code each item's category (``-1``:
    none) or are ``None`` when the data set has no categories.
    """

    train: InteractionData
    served_train: InteractionData
    queries: ItemQueries
    top_categories: IntArray | None = None
    leaf_categories: IntArray | None = None
    dropped: dict[str, int] = field(default_factory=dict)


def hide_one(
    baskets: Sequence[IntArray], known: npt.NDArray[np.bool_], rng: np.random.Generator
) -> tuple[ItemQueries, dict[str, int]]:
    """Hide one product of each basket with two or more distinct products.

    Parameters
    ----------
    baskets
        Item indices of each test basket (repeats allowed).
    known
        Per item, whether it was sold in training (a hidden unknown item drops its basket).
    rng
        Draws the hidden product.

    Returns
    -------
    tuple
        The queries (the other distinct products) and the counts of baskets dropped.
    """
    queries: list[IntArray] = []
    targets: list[int] = []
    dropped = {"single_product": 0, "target_unseen": 0}
    for basket in baskets:
        distinct = np.unique(basket)
        if len(distinct) < 2:
            dropped["single_product"] += 1
            continue
        target = int(distinct[rng.integers(len(distinct))])
        if not known[target]:
            dropped["target_unseen"] += 1
            continue
        queries.append(distinct[distinct != target])
        targets.append(target)
    return ItemQueries(queries, np.asarray(targets, dtype=np.int64)), dropped


def day_share_cutoff(times: pd.Series, test_share: float) -> pd.Timestamp:
    """Midnight of the first test day: the last ``test_share`` of the selling days are test."""
    days = np.sort(pd.to_datetime(times).dt.normalize().unique())
    if len(days) < 2:
        raise EvaluationInputError("need sales on at least two days to split by date")
    first_test = min(max(int(len(days) * (1.0 - test_share)), 1), len(days) - 1)
    return pd.Timestamp(days[first_test])


def _grouped_items(lines: pd.DataFrame, key: str) -> list[IntArray]:
    grouped = lines.groupby(key, sort=False)[Columns.ITEM]
    return [np.asarray(items, dtype=np.int64) for _, items in grouped]


def basket_task(
    lines: pd.DataFrame, n_items: int, rng: np.random.Generator, test_share: float = 0.1
) -> tuple[ItemTask, pd.Timestamp]:
    """The complementary (basket completion) task on invoice lines.

    Parameters
    ----------
    lines
        One row per invoice line, sorted by time, with columns ``basket``, ``Columns.USER``,
        ``Columns.ITEM`` (index ``< n_items``) and ``Columns.TIME``.
    n_items
        Catalog size.
    rng
        Draws the hidden product of each test basket.
    test_share
        Share of the selling days (the last ones) that are test.

    Returns
    -------
    tuple
        The task (peers train on the training baskets, serving's model on the customers'
        training sequences) and the cutoff.
    """
    cutoff = day_share_cutoff(lines[Columns.TIME], test_share)
    before = lines[lines[Columns.TIME] < cutoff]
    after = lines[lines[Columns.TIME] >= cutoff]
    known = np.zeros(n_items, dtype=bool)
    known[before[Columns.ITEM].to_numpy(dtype=np.int64)] = True
    queries, dropped = hide_one(_grouped_items(after, BASKET), known, rng)
    if not len(queries):
        raise EvaluationInputError("no test basket has two products with a known one to hide")
    seconds = before[Columns.TIME].to_numpy(dtype="datetime64[s]").astype(np.int64)
    rows = before.groupby(Columns.USER, sort=False).indices
    customers = list(rows.values())
    items = before[Columns.ITEM].to_numpy(dtype=np.int64)
    served = InteractionData(
        sequences=[np.ascontiguousarray(items[r]) for r in customers],
        n_items=n_items,
        timestamps=[np.ascontiguousarray(seconds[r]) for r in customers],
    )
    train = InteractionData(_grouped_items(before, BASKET), n_items)
    task = ItemTask(train, served, queries, dropped=dropped)
    return task, cutoff


def read_invoices(path: Path) -> tuple[pd.DataFrame, int]:
    """UCI Online Retail invoice lines, cleaned as the import adapter cleans them.

    Cancellations, lines without a CustomerID and non-positive quantities or prices are dropped
    (:func:`shopwise.collect.adapters.uci.sale_lines`); items are normalised StockCodes,
    indexed by first sale.

    Returns
    -------
    tuple
        Lines sorted by time (columns as :func:`basket_task` reads them) and the catalog size.
    """
    from shopwise.collect.adapters.uci import customer_ids, sale_lines, stock_codes

    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as error:
        raise EvaluationInputError(f"cannot read invoices {path}: {error}") from None
    if "InvoiceNo" not in frame.columns:
        raise EvaluationInputError(f"{path}: expected the UCI Online Retail columns")
    sales = frame.loc[sale_lines(frame)].sort_values("InvoiceDate", kind="stable")
    codes = stock_codes(sales["StockCode"])
    index = {code: i for i, code in enumerate(pd.unique(codes))}
    lines = pd.DataFrame(
        {
            BASKET: sales["InvoiceNo"].astype(str).to_numpy(),
            Columns.USER: customer_ids(sales["CustomerID"]).to_numpy(),
            Columns.ITEM: codes.map(index).to_numpy(dtype=np.int64),
            Columns.TIME: pd.to_datetime(sales["InvoiceDate"]).to_numpy(),
        }
    )
    return lines, len(index)


def category_codes(
    categories: Sequence[Sequence[str]], root_share: float = 0.5
) -> tuple[IntArray, IntArray]:
    """Top-level and leaf category code of each item from Amazon attribute lists.

    The S3-Rec attribute list of an item is its brand (when known) followed by its category
    path below the store's root, with nothing saying which id is the brand. A brand only ever
    comes first, while a category also appears after a brand, so an attribute never seen past
    the first position is taken as a brand. A first category shared by more than
    ``root_share`` of the categorised items is a root (Toys keeps "Toys & Games" in every
    path) and is skipped; the first remaining category is the top level and the last one the
    leaf. ``-1`` marks an item with no category.
    """
    later = {attr for attrs in categories for attr in attrs[1:]}
    paths = [[a for a in attrs if a in later] for attrs in categories]
    heads = Counter(path[0] for path in paths if path)
    roots = {h for h, n in heads.items() if n > root_share * sum(heads.values())}
    codes: dict[str, int] = {}
    top = np.full(len(categories), -1, dtype=np.int64)
    leaf = np.full(len(categories), -1, dtype=np.int64)
    for item, full in enumerate(paths):
        path = full[1:] if full and full[0] in roots else full
        if path:
            top[item] = codes.setdefault(path[0], len(codes))
            leaf[item] = codes.setdefault(path[-1], len(codes))
    return top, leaf


def similar_from_sequences(
    sequences: Sequence[IntArray], n_items: int, content: ItemContent | None = None
) -> ItemTask:
    """The similar task on user sequences: train on all but each last item, query the one
    before it, target the last (the next-item protocol's test split)."""
    train: list[IntArray] = []
    queries: list[IntArray] = []
    targets: list[int] = []
    for sequence in sequences:
        prefix = np.ascontiguousarray(sequence[:-1])
        train.append(prefix)
        if len(prefix):
            queries.append(prefix[-1:].copy())
            targets.append(int(sequence[-1]))
    data = InteractionData(train, n_items, content=content)
    return _without_self_targets(data, queries, targets)


def similar_from_sessions(
    train_sessions: Sequence[IntArray], tests: SessionExamples, n_items: int
) -> ItemTask:
    """The similar task on sessions: train on every training session, query each test
    prefix's last item, target the click that followed the prefix."""
    queries = [np.ascontiguousarray(p[-1:]) for p in tests.prefixes]
    data = InteractionData(list(train_sessions), n_items)
    return _without_self_targets(data, queries, [int(t) for t in tests.targets])


def _without_self_targets(
    data: InteractionData, queries: list[IntArray], targets: list[int]
) -> ItemTask:
    keep = [i for i, (q, t) in enumerate(zip(queries, targets, strict=True)) if t not in q]
    if not keep:
        raise EvaluationInputError("every example's target is its own query product")
    kept = ItemQueries([queries[i] for i in keep], np.asarray(targets, dtype=np.int64)[keep])
    return ItemTask(data, data, kept, dropped={"target_is_query": len(queries) - len(keep)})


def aggregate(
    neighbours: Sequence[tuple[IntArray, Any]], exclude: IntArray, k: int = K
) -> IntArray:
    """The best ``k`` items by summed neighbour score, ``exclude`` dropped, ties to the lower
    index; ``-1`` pads a short answer."""
    out = np.full(k, -1, dtype=np.int64)
    lists = [(items, scores) for items, scores in neighbours if len(items)]
    if not lists:
        return out
    items = np.concatenate([np.asarray(i, dtype=np.int64) for i, _ in lists])
    scores = np.concatenate([np.asarray(s, dtype=np.float64) for _, s in lists])
    unique, inverse = np.unique(items, return_inverse=True)
    totals = np.bincount(inverse, weights=scores, minlength=len(unique))
    keep = ~np.isin(unique, exclude)
    unique, totals = unique[keep], totals[keep]
    best = unique[np.lexsort((unique, -totals))][:k]
    out[: len(best)] = best
    return out


def answer_lists(model: Neighbours, queries: ItemQueries, k: int = K, pool: int = POOL) -> IntArray:
    """Each query's answer (see :func:`aggregate`); a product's neighbours are asked once."""
    cache: dict[int, tuple[IntArray, Any]] = {}
    lists = np.full((len(queries), k), -1, dtype=np.int64)
    for row, query in enumerate(queries.queries):
        found = []
        for item in query.tolist():
            if item not in cache:
                cache[item] = model.similar_items(item, pool)
            found.append(cache[item])
        lists[row] = aggregate(found, query, k)
    return lists


def category_share(lists: IntArray, queries: ItemQueries, categories: IntArray) -> float:
    """Share of answered items in the top-level category of one of their query products.

    Only queries with a categorised product count; an answered item without a category is
    outside. ``0`` when nothing counts.
    """
    inside = total = 0
    for answer, query in zip(lists, queries.queries, strict=True):
        own = categories[query]
        own = own[own >= 0]
        shown = answer[answer >= 0]
        if not len(own) or not len(shown):
            continue
        cats = categories[shown]
        inside += int(np.count_nonzero(np.isin(cats, own) & (cats >= 0)))
        total += len(shown)
    return inside / total if total else 0.0


def item_metrics(
    lists: IntArray, queries: ItemQueries, n_items: int, categories: IntArray | None
) -> dict[str, float | None]:
    """HR@k, NDCG@k, coverage@k, answered share and category share (``None``: no categories)."""
    k = lists.shape[1]
    hit_rows, hit_pos = np.nonzero(lists == queries.targets[:, None])
    n = max(len(queries), 1)
    shown = lists[lists >= 0]
    return {
        f"HR@{k}": len(hit_rows) / n,
        f"NDCG@{k}": float(np.sum(1.0 / np.log2(hit_pos + 2.0))) / n,
        f"coverage@{k}": len(np.unique(shown)) / n_items,
        "answered": float(np.count_nonzero((lists >= 0).any(axis=1))) / n,
        f"category_share@{k}": (
            None if categories is None else category_share(lists, queries, categories)
        ),
    }


def evaluate_neighbours(
    name: str,
    build: Callable[[InteractionData], Neighbours],
    task: ItemTask,
    *,
    served: bool = False,
) -> dict[str, Any]:
    """Fit one method (``build(train)`` returns a fitted :class:`Neighbours`) and measure it.

    ``served`` fits it on ``task.served_train`` (what serving's model learns from) instead of
    ``task.train``.
    """
    data = task.served_train if served else task.train
    started = time.perf_counter()
    model = build(data)
    fitted = time.perf_counter()
    lists = answer_lists(model, task.queries)
    answered = time.perf_counter()
    metrics = item_metrics(lists, task.queries, data.n_items, task.top_categories)
    return {
        "model": name,
        "metrics": metrics,
        "queries": len(task.queries),
        "fit_seconds": round(fitted - started, 2),
        "answer_seconds": round(answered - fitted, 2),
    }
