"""The shop's own holdout: its most recent days as a temporal test window for trained models.

The model gate (:mod:`shopwise.worker`) compares a retrained recommender with the champion on the
same window: :func:`shop_holdout` reads the store's consented interactions as an event log and
splits them at ``days`` before the last one (the temporal protocol of :func:`run_temporal`: each
shopper active in the window is a query, their history before the cutoff the input, the items new
to them in the window the targets). :func:`score_model` ranks those queries with a fitted model
over its own item index; a target the model never saw counts as a miss, as it would in serving.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from shopwise.catalog import Catalog
from shopwise.evaluate._datasets import EventLog
from shopwise.evaluate._harness import rank_queries
from shopwise.evaluate._metrics import accuracy_metrics
from shopwise.evaluate._shop_log import store_event_log
from shopwise.evaluate._splits import Queries, temporal_window
from shopwise.privacy import ConsentPolicy
from shopwise.recommend.candidates import IntArray, ItemIndex, Recommender
from shopwise.schema import Columns

HOLDOUT_CUTOFFS = (10, 20)
"""The list lengths the holdout metrics are reported at."""


@dataclass(frozen=True)
class Holdout:
    """The store's last days as test queries, in the item index of ``log``."""

    log: EventLog
    cutoff_ms: int
    end_ms: int
    queries: Queries

    def window(self) -> dict[str, int]:
        """The window as the registry records it."""
        return {"cutoff_ms": self.cutoff_ms, "end_ms": self.end_ms, "queries": len(self.queries)}


def _ms(stamp: pd.Timestamp) -> int:
    return int(stamp.value // 1_000_000)


def shop_holdout(
    engine: sa.Engine, catalog: Catalog, policy: ConsentPolicy, days: float
) -> Holdout:
    """The consented interactions of the last ``days`` before the store's last one, as queries.

    Raises
    ------
    EvaluationInputError
        When the store has no interactions, none before the cutoff, or nobody in the window
        interacted with a product new to them.
    """
    log = store_event_log(engine, catalog, policy)
    end = pd.Timestamp(log.events[Columns.TIME].max()) + pd.Timedelta(milliseconds=1)
    cutoff = end - pd.Timedelta(days=days)
    split = temporal_window(log, cutoff, end)
    return Holdout(log, _ms(cutoff), _ms(end), split.split.queries)


def _translate(indices: IntArray, source: ItemIndex, target: ItemIndex) -> tuple[IntArray, int]:
    """``indices`` of ``source`` as indices of ``target``, and how many ``target`` lacks."""
    positions = [target.positions.get(source.ids[int(i)]) for i in indices]
    known = np.asarray([p for p in positions if p is not None], dtype=np.int64)
    return known, len(positions) - len(known)


def score_model(model: Recommender, items: ItemIndex, holdout: Holdout) -> dict[str, float]:
    """HR, NDCG and recall at :data:`HOLDOUT_CUTOFFS` (and MRR) of ``model`` on ``holdout``.

    ``items`` is the item index ``model`` was fitted over. History items it does not know are
    left out of the query; targets it does not know rank last (misses).
    """
    source = holdout.log.items
    histories, masks, targets, unknown = [], [], [], []
    for history, mask, target in zip(
        holdout.queries.histories,
        holdout.queries.masks or [np.empty(0, dtype=np.int64)] * len(holdout.queries),
        holdout.queries.targets,
        strict=True,
    ):
        histories.append(_translate(history, source, items)[0])
        masks.append(_translate(mask, source, items)[0])
        known, missing = _translate(target, source, items)
        targets.append(known)
        unknown.append(missing)
    ranking = rank_queries(model, Queries(histories, masks, targets))
    ranks = [
        np.concatenate([found, np.full(missing, len(items), dtype=np.int64)])
        for found, missing in zip(ranking.ranks, unknown, strict=True)
    ]
    return {name: float(value) for name, value in accuracy_metrics(ranks, HOLDOUT_CUTOFFS).items()}
