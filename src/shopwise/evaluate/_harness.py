"""The evaluation loop: fit, score queries in batches, rank targets, choose parameters.

:func:`rank_queries` scores a batch of histories at once (one ``(batch, n_items)`` array from the
model), sets the masked items to ``-inf``, ranks the targets and keeps the top-20 list of every
query for the beyond-accuracy metrics. :func:`evaluate_model` runs the validation grid of a
model, keeps the parameters with the best validation NDCG@10, refits on the test training data
and reports the test metrics with timings and peak memory, as the CLI's JSON contract asks.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from rich.progress import Progress

from shopwise.evaluate._metrics import (
    CUTOFFS,
    accuracy_metrics,
    beyond_accuracy_metrics,
    item_popularity,
    target_ranks,
    top_k_lists,
)
from shopwise.evaluate._specs import ModelSpec, Params
from shopwise.evaluate._splits import Queries, Split
from shopwise.recommend.candidates import FloatArray, IntArray, InteractionData, Recommender
from shopwise.recommend.training import fit_report

SELECTION_METRIC = "NDCG@10"
"""Validation metric that picks a model's parameters."""

BEYOND_K = 10
"""List length for coverage, novelty, popularity bias and diversity."""


@dataclass
class Ranking:
    """Ranks of every query's targets, the queries' top lists and the scoring time."""

    ranks: list[IntArray]
    lists: IntArray
    seconds: float


def _mask(scores: FloatArray, masks: list[IntArray] | None) -> None:
    if masks is None:
        return
    lengths = [len(m) for m in masks]
    if sum(lengths) == 0:
        return
    rows = np.repeat(np.arange(len(masks)), lengths)
    scores[rows, np.concatenate(masks)] = -np.inf


def rank_queries(
    model: Recommender,
    queries: Queries,
    batch_size: int = 1024,
    progress: Progress | None = None,
    label: str = "scoring",
) -> Ranking:
    """Score every query, mask its history and rank its targets.

    Parameters
    ----------
    model
        A fitted recommender.
    queries
        Histories, masks and targets.
    batch_size
        Histories scored per call to ``model.score``.
    progress
        Optional rich progress display to advance.
    label
        Task description shown in the progress display.

    Returns
    -------
    Ranking
        Target ranks per query and top-``max(CUTOFFS)`` lists.
    """
    top = max(CUTOFFS)
    ranks: list[IntArray] = []
    lists: list[IntArray] = []
    task = progress.add_task(label, total=len(queries)) if progress is not None else None
    started = time.perf_counter()
    for start in range(0, len(queries), batch_size):
        stop = min(start + batch_size, len(queries))
        scores = np.asarray(model.score(queries.histories[start:stop]), dtype=np.float32)
        if queries.masks is not None:
            scores = scores.copy()  # never write into an array the model may own
            _mask(scores, queries.masks[start:stop])
        targets = queries.targets[start:stop]
        counts = [len(t) for t in targets]
        rows = np.repeat(np.arange(stop - start), counts)
        flat = target_ranks(scores, rows, np.concatenate(targets))
        ranks.extend(np.split(flat, np.cumsum(counts)[:-1]))
        lists.append(top_k_lists(scores, top))
        if progress is not None and task is not None:
            progress.advance(task, stop - start)
    seconds = time.perf_counter() - started
    if progress is not None and task is not None:
        progress.remove_task(task)
    stacked = np.concatenate(lists) if lists else np.empty((0, top), dtype=np.int64)
    return Ranking(ranks=ranks, lists=stacked, seconds=seconds)


def diversity_vectors(data: InteractionData) -> sp.csr_matrix:
    """Item feature rows for intra-list diversity.

    Attribute indicators when the data carries item categories or brands, otherwise each item's
    column of the training user x item matrix (so diversity means "rarely bought together").
    """
    content = data.content
    if content is not None:
        tags = [
            [*cats, f"brand:{brand}"] if brand else list(cats)
            for cats, brand in zip(content.categories, content.brands, strict=True)
        ]
        if any(tags):
            vocab = {tag: i for i, tag in enumerate(sorted({t for ts in tags for t in ts}))}
            rows = np.repeat(np.arange(len(tags)), [len(ts) for ts in tags])
            cols = [vocab[t] for ts in tags for t in ts]
            values = np.ones(len(cols), dtype=np.float32)
            return sp.csr_matrix((values, (rows, cols)), shape=(len(tags), len(vocab)))
    return sp.csr_matrix(data.user_items(binary=True).T)


def summarise(
    ranking: Ranking, train: InteractionData, rng: np.random.Generator
) -> dict[str, float]:
    """Accuracy and beyond-accuracy metrics of one ranking."""
    metrics = accuracy_metrics(ranking.ranks, CUTOFFS)
    matrix = train.user_items(binary=True)
    metrics.update(
        beyond_accuracy_metrics(
            ranking.lists[:, :BEYOND_K],
            item_popularity(matrix),
            train.n_users,
            diversity_vectors(train),
            rng,
        )
    )
    return metrics


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class Evaluation:
    """One model's result on one protocol, ready for the JSON contract."""

    task: str
    dataset: str
    model: str
    params: Params
    metrics: dict[str, float]
    count_key: str
    count: int
    fit_seconds: float
    predict_seconds: float
    peak_rss_mb: float
    selection: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON object (stable keys first, then details)."""
        return {
            "task": self.task,
            "dataset": self.dataset,
            "model": self.model,
            "params": self.params,
            "metrics": self.metrics,
            self.count_key: self.count,
            "fit_seconds": round(self.fit_seconds, 3),
            "predict_seconds": round(self.predict_seconds, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "selection": self.selection,
            **self.extra,
        }


def _validate(
    spec: ModelSpec,
    valid: Split,
    grid: tuple[Params, ...],
    batch_size: int,
    progress: Progress | None,
    max_queries: int,
    rng: np.random.Generator,
) -> tuple[Params, list[dict[str, Any]]]:
    if len(grid) == 1:
        return dict(grid[0]), []
    queries = valid.queries
    if len(queries) > max_queries:
        rows = np.sort(rng.choice(len(queries), size=max_queries, replace=False))
        queries = queries.subset(rows.tolist())
    trials: list[dict[str, Any]] = []
    for params in grid:
        model = spec.build(params)
        model.fit(valid.train)
        ranking = rank_queries(model, queries, batch_size, progress, f"{spec.name} valid")
        metrics = accuracy_metrics(ranking.ranks, CUTOFFS)
        trials.append(
            {
                "params": dict(params),
                SELECTION_METRIC: metrics[SELECTION_METRIC],
                "HR@10": metrics["HR@10"],
            }
        )
    best = max(trials, key=lambda trial: float(trial[SELECTION_METRIC]))
    return dict(best["params"]), trials


def _fit_report(model: Recommender) -> dict[str, Any]:
    """What the fitted model reports about its own fit, if anything (:func:`fit_report`)."""
    report = fit_report(model)
    return {} if report is None else {"fit_report": report}


def evaluate_model(
    spec: ModelSpec,
    valid: Split,
    test: Split,
    *,
    task: str,
    dataset: str,
    count_key: str,
    rng: np.random.Generator,
    params: Mapping[str, Any] | None = None,
    extra_queries: Mapping[str, Queries] | None = None,
    batch_size: int = 1024,
    max_valid_queries: int = 10_000,
    progress: Progress | None = None,
) -> Evaluation:
    """Choose parameters on ``valid``, refit on ``test.train`` and report test metrics.

    Parameters
    ----------
    spec
        The registry entry of the model.
    valid, test
        The protocol's validation and test splits.
    task, dataset, count_key
        Labels for the JSON result (``count_key`` is ``"users"`` or ``"examples"``).
    rng
        Generator for the diversity sample.
    params
        Fixed parameters; skips the validation grid when given.
    extra_queries
        More query sets ranked by the final model (for example cold-start targets); each gets
        ``{"metrics", "users"}`` in the result's extra fields.
    batch_size
        Histories per scoring call.
    max_valid_queries
        Validation queries sampled (with ``rng``) for each grid point.
    progress
        Optional rich progress display.

    Returns
    -------
    Evaluation
        Test metrics, the chosen parameters and the validation trials.
    """
    grid = (dict(params),) if params is not None else spec.grid
    chosen, trials = _validate(spec, valid, grid, batch_size, progress, max_valid_queries, rng)
    model = spec.build(chosen)
    started = time.perf_counter()
    model.fit(test.train)
    fit_seconds = time.perf_counter() - started
    ranking = rank_queries(model, test.queries, batch_size, progress, f"{spec.name} test")
    extra: dict[str, Any] = {"n_items": test.train.n_items, **_fit_report(model)}
    for name, queries in (extra_queries or {}).items():
        if len(queries) == 0:
            extra[name] = {"metrics": {}, "users": 0}
            continue
        ranked = rank_queries(model, queries, batch_size, progress, f"{spec.name} {name}")
        extra[name] = {"metrics": accuracy_metrics(ranked.ranks, CUTOFFS), "users": len(queries)}
    return Evaluation(
        task=task,
        dataset=dataset,
        model=spec.name,
        params=chosen,
        metrics=summarise(ranking, test.train, rng),
        count_key=count_key,
        count=len(test.queries),
        fit_seconds=fit_seconds,
        predict_seconds=ranking.seconds,
        peak_rss_mb=peak_rss_mb(),
        selection=trials,
        extra=extra,
    )
