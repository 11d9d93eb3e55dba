"""Training the customer models (propensity, lifetime value, segments) from the store's frames.

Each family is fitted on the consented (``analytics``) frames, saved as a new version in its
model-registry family and promoted to champion. A family the data cannot support yet raises
:class:`~shopwise.errors.NotEnoughData`; :meth:`CustomerTrainer.train_all` trains the others.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

from shopwise.customers._artifacts import (
    ClvArtifact,
    CustomerModelsConfig,
    PropensityArtifact,
    SegmentArtifact,
    rolling_cutoffs,
)
from shopwise.customers._champions import FAMILIES, CustomerModels
from shopwise.customers._scoring import span
from shopwise.customers.clv import (
    AGE,
    FREQUENCY,
    MONETARY,
    RECENCY,
    GbmClvModel,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_gbm_clv,
    rfm_summary,
)
from shopwise.customers.propensity import LABELS, PropensityModel, fit_propensity, training_frame
from shopwise.customers.segments import fit_segments
from shopwise.errors import NotEnoughData
from shopwise.features import StoreFrames, customer_features
from shopwise.logs import Progress, quiet
from shopwise.schema import Columns

_CENSORED = ".*labels are censored"


class CustomerTrainer:
    """Fits the three customer-model families and saves them as champions (see module doc)."""

    def __init__(self, models: CustomerModels, config: CustomerModelsConfig) -> None:
        self.models = models
        self.config = config

    def train(self, family: str, frames: StoreFrames, progress: Progress = quiet) -> dict[str, Any]:
        """Train one family (``propensity``, ``clv`` or ``segments``) by name."""
        trainers = {
            "propensity": self.train_propensity,
            "clv": self.train_clv,
            "segments": self.train_segments,
        }
        return trainers[family](frames, progress)

    def train_all(
        self, frames: StoreFrames, progress: Progress = quiet, families: Sequence[str] = FAMILIES
    ) -> dict[str, Any]:
        """Train ``families`` on the same frames; a family without enough data is skipped."""
        result: dict[str, Any] = {}
        for family in families:
            try:
                result[family] = self.train(family, frames, progress)
            except NotEnoughData as exc:  # the other families still train
                result[family] = {"skipped": exc.message}
        return result

    def train_propensity(self, frames: StoreFrames, progress: Progress = quiet) -> dict[str, Any]:
        """Fit every configured label that the data can support; save and promote the artifact.

        Labels whose window is longer than the history, or with fewer than ``min_positives``
        positive or negative rows, are skipped and named in the result's ``skipped``.
        """
        cfg = self.config
        first, last = span(frames)
        models: dict[str, PropensityModel] = {}
        stats: dict[str, Any] = {"labels": {}, "skipped": {}}
        for name in cfg.labels:
            spec = LABELS[name]
            cutoffs = rolling_cutoffs(first, last, spec.window_days, cfg)
            if not cutoffs:
                stats["skipped"][name] = f"needs more than {spec.window_days:g} days of history"
                continue
            progress(f"{name}: features at {len(cutoffs)} cutoffs")
            with warnings.catch_warnings():
                # cutoffs end their windows by the latest event; orders may simply stop earlier
                warnings.filterwarnings("ignore", message=_CENSORED)
                features, labels = training_frame(frames.events, frames.orders, spec, cutoffs)
            positives = int(labels.sum())
            if min(positives, len(labels) - positives) < cfg.min_positives:
                stats["skipped"][name] = f"{positives} positives in {len(labels)} rows"
                continue
            progress(f"{name}: fitting on {len(labels)} rows ({positives} positive)")
            model = fit_propensity(features, labels, cfg.propensity, seed=cfg.seed)
            models[name] = model
            stats["labels"][name] = {
                "rows": len(labels),
                "positives": positives,
                "cutoffs": [str(c) for c in cutoffs],
                "calibration": model.calibrator.method,
                "validation_brier": model.validation_brier,
            }
        if not models:
            raise NotEnoughData(f"no propensity label could be trained: {stats['skipped']}")
        stats["excluded_events_without_consent"] = frames.excluded_events
        return self.models.save("propensity", PropensityArtifact(models, last, stats), stats)

    def train_clv(self, frames: StoreFrames, progress: Progress = quiet) -> dict[str, Any]:
        """Fit BG/NBD and Gamma-Gamma on all orders, and the GBM one horizon back when possible."""
        cfg = self.config
        first, last = span(frames)
        if frames.orders.empty:
            raise NotEnoughData("no consented orders in the store to fit lifetime value on")
        progress(f"BG/NBD on {frames.orders[Columns.PROFILE].nunique()} buyers")
        summary = rfm_summary(frames.orders, last)
        purchases = fit_bgnbd(summary[FREQUENCY], summary[RECENCY], summary[AGE])
        repeat = int(((summary[FREQUENCY] > 0) & (summary[MONETARY] > 0)).sum())
        spend = None
        if repeat >= cfg.min_repeat_buyers:
            progress(f"Gamma-Gamma on {repeat} repeat buyers")
            spend = fit_gamma_gamma(summary[FREQUENCY], summary[MONETARY])
        gbm, gbm_note = self._fit_gbm(frames, first, last, progress)
        stats: dict[str, Any] = {
            "buyers": len(summary),
            "repeat_buyers": repeat,
            "bgnbd": vars(purchases.params),
            "gamma_gamma": None if spend is None else vars(spend.params),
            "gbm": gbm_note,
            "horizon_days": cfg.clv_horizon_days,
            "excluded_events_without_consent": frames.excluded_events,
        }
        mean_order = float(frames.orders[Columns.REVENUE].mean())
        artifact = ClvArtifact(purchases, spend, gbm, mean_order, cfg.clv_horizon_days, stats)
        return self.models.save("clv", artifact, stats)

    def _fit_gbm(
        self, frames: StoreFrames, first: pd.Timestamp, last: pd.Timestamp, progress: Progress
    ) -> tuple[GbmClvModel | None, str]:
        horizon = self.config.gbm_horizon_days
        cutoff = last - pd.Timedelta(days=horizon)
        if cutoff < first + pd.Timedelta(days=self.config.min_history_days):
            return None, f"skipped: needs more than {horizon:g} days of history"
        features = customer_features(frames.events, frames.orders, cutoff)
        later = frames.orders.loc[frames.orders[Columns.TIME] > cutoff]
        target = later.groupby(Columns.PROFILE)[Columns.REVENUE].sum()
        target = target.reindex(features.index).fillna(0.0)
        if int((target > 0).sum()) < self.config.min_positives:
            return None, "skipped: too few buyers in the horizon"
        progress(f"gradient-boosted CLV on {len(features)} profiles")
        model = fit_gbm_clv(features, target, horizon_days=horizon, seed=self.config.seed)
        return model, f"trained on features at {cutoff}, spend of the next {horizon:g} days"

    def train_segments(self, frames: StoreFrames, progress: Progress = quiet) -> dict[str, Any]:
        """Fit K-Means (k by silhouette) on the features at the latest event; save and promote."""
        cfg = self.config
        _, last = span(frames)
        features = customer_features(frames.events, frames.orders, last)
        progress(f"K-Means on {len(features)} profiles, k {cfg.segments.k_min}..")
        segmentation = fit_segments(features, cfg.segments, seed=cfg.seed)
        sizes = segmentation.assign(features).value_counts()
        stats: dict[str, Any] = {
            "profiles": len(features),
            "k": segmentation.k,
            "silhouettes": {str(k): v for k, v in segmentation.silhouettes.items()},
            "segments": {str(name): int(n) for name, n in sizes.items()},
            "excluded_events_without_consent": frames.excluded_events,
        }
        artifact = SegmentArtifact(segmentation, cfg.audiences, stats)
        return self.models.save("segments", artifact, stats)
