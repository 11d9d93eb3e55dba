"""LightGBM LambdaRank ranker over the candidate union, with reason codes.

The ranker learns, per query (a history), which candidate the shopper took next. Training rows come
from :func:`~shopwise.recommend.ranking.build_candidates`; queries whose target is not among the
candidates carry no ranking signal and are dropped. A seeded share of the queries is held out to
pick the number of boosting rounds by early stopping, so nothing is tuned by hand per dataset.
Reason codes are the features (grouped by generator) with the largest positive contribution
(LightGBM's ``pred_contrib``) to a served item's score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from shopwise.errors import NotEnoughData
from shopwise.recommend.candidates import IntArray

__all__ = ["LambdaRanker", "LambdaRankerConfig", "RankerState"]


_PARALLEL_ROWS = 20_000
"""Below this many rows prediction runs single-threaded."""


class LambdaRankerConfig(BaseModel):
    """Settings of :class:`LambdaRanker` (LightGBM ``lambdarank`` objective)."""

    model_config = ConfigDict(extra="forbid")

    n_estimators: int = Field(default=400, ge=1)
    """Upper bound on boosting rounds; early stopping on held-out queries picks the number."""
    learning_rate: float = Field(default=0.05, gt=0.0)
    num_leaves: int = Field(default=31, ge=2)
    min_child_samples: int = Field(default=50, ge=1)
    feature_fraction: float = Field(default=0.8, gt=0.0, le=1.0)
    eval_at: int = Field(default=10, ge=1)
    """Cut-off of the NDCG used for early stopping."""
    early_stopping_rounds: int = Field(default=30, ge=1)
    validation_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    """Share of training queries held out for early stopping."""
    n_jobs: int = Field(default=2, ge=1)
    seed: int = 0


@dataclass
class RankerState:
    """The trained booster and the feature order it expects."""

    booster: lgb.Booster
    feature_names: list[str]
    best_iteration: int


def _groups(query_ids: IntArray) -> IntArray:
    """Sizes of consecutive runs of equal (sorted) query ids."""
    _, sizes = np.unique(query_ids, return_counts=True)
    return sizes.astype(np.int64)


class LambdaRanker:
    """Learning-to-rank stage of the pipeline.

    Parameters
    ----------
    config
        Booster and early-stopping settings.
    """

    def __init__(self, config: LambdaRankerConfig | None = None) -> None:
        self.config = config or LambdaRankerConfig()
        self.state: RankerState | None = None

    def _params(self) -> dict[str, object]:
        cfg = self.config
        return {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [cfg.eval_at],
            "learning_rate": cfg.learning_rate,
            "num_leaves": cfg.num_leaves,
            "min_data_in_leaf": cfg.min_child_samples,
            "feature_fraction": cfg.feature_fraction,
            "bagging_seed": cfg.seed,
            "feature_fraction_seed": cfg.seed,
            "seed": cfg.seed,
            "num_threads": cfg.n_jobs,
            "deterministic": True,
            "verbose": -1,
        }

    def fit(
        self,
        features: npt.NDArray[np.float32],
        labels: npt.NDArray[np.float32],
        query_ids: IntArray,
        feature_names: list[str],
    ) -> None:
        """Train on candidate rows sorted by ``query_ids``; label 1 marks the taken item.

        Raises
        ------
        NotEnoughData
            When no query has a positive candidate.
        """
        cfg = self.config
        positive = np.unique(query_ids[labels > 0])
        if len(positive) == 0:
            raise NotEnoughData("no training query has its target among the candidates")
        rng = np.random.default_rng(cfg.seed)
        held_out = positive[rng.random(len(positive)) < cfg.validation_fraction]
        keep = np.isin(query_ids, positive)
        valid = keep & np.isin(query_ids, held_out)
        train = keep & ~valid
        train_set = lgb.Dataset(
            features[train],
            labels[train],
            group=_groups(query_ids[train]),
            feature_name=feature_names,
            free_raw_data=True,
        )
        callbacks: list[Callable[..., Any]] = []
        valid_sets: list[lgb.Dataset] = []
        if valid.any():
            valid_sets.append(
                lgb.Dataset(
                    features[valid],
                    labels[valid],
                    group=_groups(query_ids[valid]),
                    reference=train_set,
                )
            )
            callbacks.append(lgb.early_stopping(cfg.early_stopping_rounds, verbose=False))
        booster = lgb.train(
            self._params(),
            train_set,
            num_boost_round=cfg.n_estimators,
            valid_sets=valid_sets,
            callbacks=callbacks,
        )
        best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
        self.state = RankerState(booster=booster, feature_names=feature_names, best_iteration=best)

    def _require_state(self) -> RankerState:
        if self.state is None:
            raise RuntimeError("ranker: call fit() before predicting")
        return self.state

    def predict(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Ranking score of each candidate row (comparable within one query)."""
        state = self._require_state()
        if len(features) == 0:
            return np.empty(0, dtype=np.float32)
        # One thread for serving-sized inputs: thread start-up costs more than it saves.
        threads = 1 if len(features) < _PARALLEL_ROWS else self.config.n_jobs
        out = state.booster.predict(
            features, num_iteration=state.best_iteration, num_threads=threads
        )
        return np.asarray(out, dtype=np.float32)

    def reasons(self, features: npt.NDArray[np.float32], top: int = 2) -> list[list[str]]:
        """Reason codes per row: the feature groups that raised its score most, best first.

        A feature ``"transition__rank"`` belongs to group ``"transition"``; contributions of a
        group's features are summed and only groups with a positive total are reported.
        """
        state = self._require_state()
        if len(features) == 0:
            return []
        contrib = np.asarray(
            state.booster.predict(features, num_iteration=state.best_iteration, pred_contrib=True)
        )[:, :-1]
        groups = [name.split("__", 1)[0] for name in state.feature_names]
        unique = sorted(set(groups))
        index = np.asarray([unique.index(g) for g in groups])
        totals = np.zeros((len(features), len(unique)))
        np.add.at(totals.T, index, contrib.T)
        order = np.argsort(-totals, axis=1)[:, :top]
        return [[unique[j] for j in row if totals[i, j] > 0] for i, row in enumerate(order)]
