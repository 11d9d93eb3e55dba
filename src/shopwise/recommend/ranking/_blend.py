"""Blending the ranker's list with one generator's, so the pipeline never loses to its parts.

The ranker orders only its candidate union and learns mostly where the taken item lands near the
top, so its list can be sharper at the head yet weaker at the tail than a plain generator's (a
higher MRR with a lower HR@20). :func:`choose_blend` measures, on held-out queries the deciding
ranker never trained on, the ranker's list, every generator's list and blends of the two: the
ranker's first ``head`` items, then the generator's and the ranker's next items in turn. It keeps
the ranker's list as it is when that is at least as good as the best generator on every metric,
and otherwise the blend whose worst metric, relative to the best generator's, is highest.
:func:`blend_scores` applies the choice to score rows, so the harness and serving rank exactly
the list that was measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from shopwise.recommend.candidates import FloatArray, IntArray, top_n

__all__ = [
    "Blend",
    "BlendConfig",
    "blend_scores",
    "blended_list",
    "choose_blend",
    "list_metrics",
    "ordered",
]

RANKER = "ranker"
"""Name of the ranker's own list in :attr:`Blend.metrics`."""

FINAL = "final"
"""Name of the served (blended) list in :attr:`Blend.metrics`."""


class BlendConfig(BaseModel):
    """How the blend of the ranker's list with a generator's is chosen."""

    model_config = ConfigDict(extra="forbid")

    validation_share: float = Field(default=0.2, gt=0.0, lt=1.0)
    """Share of the ranker's sampled queries held out to choose the blend when every held-out
    query is in the ranker's sample; the ranker is then trained again on all of them."""
    max_queries: int = Field(default=5_000, ge=1)
    """Most held-out queries the choice is measured on."""
    heads: tuple[int, ...] = (15, 10, 5, 0)
    """Ranker items kept first in the blends tried (each below the list length)."""
    cutoffs: tuple[int, ...] = (10, 20)
    """Cut-offs of HR, NDCG and Recall compared; MRR and the blended length use the largest."""


@dataclass
class Blend:
    """The blend chosen at fit time and what it was chosen on."""

    generator: str | None
    """Generator whose list fills the tail; ``None`` serves the ranker's list as it is."""
    head: int
    """Ranker items kept first before the lists alternate."""
    length: int
    """Length of the blended part of the list (the largest cut-off)."""
    skip_history: bool
    """Whether history items are left out of both lists (queries that mask the history)."""
    queries: int = 0
    """Held-out queries the choice was measured on."""
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    """Validation metrics of the ranker's list, of each generator's and of the final list."""


def ordered(scores: FloatArray, length: int, history: IntArray | None) -> IntArray:
    """The best ``length`` finite-scored items of one score row, ``history`` left out."""
    items, _ = top_n(scores, length, history)
    return items


def blended_list(
    ranker: IntArray, generator: IntArray, head: int, length: int
) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """The ranker's first ``head`` items, then the generator's and the ranker's in turn.

    Returns
    -------
    tuple
        At most ``length`` distinct items, best first, and whether each came from the generator.
    """
    items: list[int] = []
    sources: list[bool] = []
    taken: set[int] = set()

    def push(item: int, from_generator: bool) -> None:
        if item not in taken and len(items) < length:
            taken.add(item)
            items.append(item)
            sources.append(from_generator)

    for item in ranker[:head].tolist():
        push(item, False)
    rest = (iter(ranker[head:].tolist()), iter(generator.tolist()))
    exhausted = [False, False]
    turn = 1
    while len(items) < length and not all(exhausted):
        for item in rest[turn]:
            if item not in taken:
                push(item, turn == 1)
                break
        else:
            exhausted[turn] = True
        turn = 1 - turn
    return np.asarray(items, dtype=np.int64), np.asarray(sources, dtype=bool)


def list_metrics(
    lists: Sequence[IntArray], targets: Sequence[IntArray], cutoffs: Sequence[int]
) -> dict[str, float]:
    """HR, NDCG and Recall at each cut-off and MRR at the largest, averaged over queries.

    The definitions are the evaluation harness's (NDCG with an ideal of ``min(#targets, K)``
    hits, MRR of the first hit), computed from each query's top list.
    """
    top = max(cutoffs)
    totals = {f"{name}@{k}": 0.0 for k in cutoffs for name in ("HR", "NDCG", "Recall")}
    totals[f"MRR@{top}"] = 0.0
    for items, wanted in zip(lists, targets, strict=True):
        ranks = np.sort(np.flatnonzero(np.isin(items[:top], wanted)))
        for k in cutoffs:
            hits = ranks[ranks < k]
            ideal = np.sum(1.0 / np.log2(np.arange(min(len(wanted), k)) + 2.0))
            totals[f"HR@{k}"] += float(len(hits) > 0)
            totals[f"NDCG@{k}"] += float(np.sum(1.0 / np.log2(hits + 2.0)) / ideal)
            totals[f"Recall@{k}"] += len(hits) / len(wanted)
        if len(ranks):
            totals[f"MRR@{top}"] += 1.0 / (ranks[0] + 1.0)
    n = len(lists)
    return {name: float(value / n) if n else 0.0 for name, value in totals.items()}


def _worst_ratio(metrics: Mapping[str, float], best: Mapping[str, float]) -> float:
    """The lowest ratio of ``metrics`` to ``best`` over the metrics ``best`` has above zero."""
    ratios = [metrics[name] / value for name, value in best.items() if value > 0]
    return min(ratios, default=1.0)


def choose_blend(
    ranker: Sequence[IntArray],
    generators: Mapping[str, Sequence[IntArray]],
    targets: Sequence[IntArray],
    config: BlendConfig,
    skip_history: bool,
) -> Blend:
    """The blend of the ranker's lists with one generator's that serves best on ``targets``.

    Parameters
    ----------
    ranker
        The ranker's top list of each held-out query (history left out when ``skip_history``).
    generators
        Each generator's top list of the same queries, by name.
    targets
        The relevant items of each query.
    config
        Heads tried and cut-offs compared.
    skip_history
        Recorded in the result: whether the lists leave history items out.

    Returns
    -------
    Blend
        No generator when the ranker's list is at least as good as the best generator on every
        metric; otherwise the (generator, head) whose worst metric relative to the best
        generator's is highest, the ranker's own list competing with a head of ``length``.
    """
    length = max(config.cutoffs)
    measured = {RANKER: list_metrics(ranker, targets, config.cutoffs)}
    measured.update(
        {name: list_metrics(lists, targets, config.cutoffs) for name, lists in generators.items()}
    )
    best = {
        metric: max((measured[name][metric] for name in generators), default=0.0)
        for metric in measured[RANKER]
    }
    chosen: tuple[float, int, str | None] = (_worst_ratio(measured[RANKER], best), length, None)
    final = measured[RANKER]
    if chosen[0] < 1.0:
        for name, lists in generators.items():
            for head in sorted((h for h in config.heads if h < length), reverse=True):
                blended = [
                    blended_list(r, g, head, length)[0] for r, g in zip(ranker, lists, strict=True)
                ]
                metrics = list_metrics(blended, targets, config.cutoffs)
                # Ties keep the earlier (ranker's own list, then the longer head).
                if _worst_ratio(metrics, best) > chosen[0]:
                    chosen, final = (_worst_ratio(metrics, best), head, name), metrics
    _, head, generator = chosen
    return Blend(
        generator=generator,
        head=head,
        length=length,
        skip_history=skip_history,
        queries=len(targets),
        metrics={**measured, FINAL: final},
    )


def blend_scores(
    ranker: FloatArray, generator: FloatArray, histories: Sequence[IntArray], blend: Blend
) -> tuple[FloatArray, list[set[int]]]:
    """Rows of ``ranker`` scores reordered so that each row's top is the blended list.

    The blended items get scores above every other candidate, in blended order; the rest keep
    their ranker scores (``-inf`` for items that are not candidates).

    Returns
    -------
    tuple
        The new score rows and, per row, the items the generator placed.
    """
    out = ranker.copy()
    placed: list[set[int]] = []
    for row, history in enumerate(histories):
        skip = history if blend.skip_history else None
        items, from_generator = blended_list(
            ordered(ranker[row], blend.length, skip),
            ordered(generator[row], blend.length, skip),
            blend.head,
            blend.length,
        )
        finite = ranker[row][np.isfinite(ranker[row])]
        top = float(finite.max()) if len(finite) else 0.0
        out[row, items] = top + np.arange(len(items), 0, -1, dtype=np.float32)
        placed.append(set(items[from_generator].tolist()))
    return out, placed
