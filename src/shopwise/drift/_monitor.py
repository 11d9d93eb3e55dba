"""The drift check: read both windows, compare every feature, save the report.

:class:`DriftMonitor` needs no runtime: the store, the catalog, the consent policy and the
recommender registry are passed in (the worker, the CLI and the API build it from theirs). It only
detects; acting on a drift (a retraining, a webhook) is the worker's ``drift-check`` job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from shopwise.catalog import Catalog
from shopwise.drift._features import WindowSample, sample_windows
from shopwise.drift._report import DriftReport, Sample, latest, save
from shopwise.drift._scores import (
    customer_baseline,
    sample_profiles,
    stored_customer_scores,
    top_scores,
)
from shopwise.drift._statistics import (
    DriftThresholds,
    FeatureDrift,
    categorical_drift,
    numeric_drift,
)
from shopwise.drift._windows import Window, recent_window, reference_window
from shopwise.errors import NotEnoughData
from shopwise.privacy import ConsentedEvents, ConsentPolicy
from shopwise.recommend import RecommenderArtifact
from shopwise.registry import Champion, ModelRegistry
from shopwise.schema import Purpose
from shopwise.store import events, shopper_events

BASELINES: Final = "baselines"
"""The folder under the drift folder holding the customer-score baselines."""


class DriftConfig(BaseModel):
    """What a drift check compares and when it calls a feature drifted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recent_days: float = Field(default=7.0, gt=0, le=365)
    """The recent window: this many days before now (from the reference's end at the earliest)."""
    reference_days: float = Field(default=28.0, gt=0, le=3650)
    """The reference window when the champion records no data window: this many days before it
    was saved."""
    score_profiles: int = Field(default=500, ge=1, le=100_000)
    """Profiles of each window whose champion scores are drawn."""
    min_events: int = Field(default=100, ge=1)
    """Fewer consented events in either window: nothing is compared (:class:`NotEnoughData`)."""
    seed: int = Field(default=0, ge=0)
    """Seed of the profile sample."""
    thresholds: DriftThresholds = Field(default_factory=DriftThresholds)
    """When a feature has drifted."""


class DriftMonitor:
    """Compares the champion's training window with a recent one (see the package docstring).

    Parameters
    ----------
    engine, catalog, policy
        The store, its catalog and the consent policy (events are read for personalization).
    recommenders
        The recommender registry: its champion's meta names the reference window.
    folder
        Where reports are saved (``<data_dir>/drift``).
    config
        Windows, sample sizes and thresholds.
    champion
        The champion already held in memory (serving's), used when it is the registry's
        champion instead of loading the artifact again.
    clock
        The present in epoch seconds.
    """

    def __init__(
        self,
        engine: sa.Engine,
        catalog: Catalog,
        policy: ConsentPolicy,
        recommenders: ModelRegistry,
        folder: Path,
        config: DriftConfig | None = None,
        *,
        champion: Champion[RecommenderArtifact] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.policy = policy
        self.recommenders = recommenders
        self.folder = folder
        self.config = config or DriftConfig()
        self._champion = champion
        self._clock = clock

    def latest(self) -> dict[str, Any] | None:
        """The newest saved report (its JSON), or ``None`` before the first check."""
        return latest(self.folder)

    def check(self, recent_days: float | None = None) -> DriftReport:
        """Compare the windows, save the report and return it.

        Raises
        ------
        NotEnoughData
            There is no recommender champion (no training window to compare with), or either
            window holds fewer than ``min_events`` consented events.
        """
        version = self.recommenders.champion()
        if version is None:
            raise NotEnoughData(
                "no recommender champion yet (no training window to compare with); "
                "run 'shopwise train recommenders'"
            )
        meta = self.recommenders.meta(version)
        reference = reference_window(meta, self.config.reference_days)
        if reference is None:
            raise NotEnoughData(f"the champion {version} records no training window")
        now = int(self._clock() * 1000)
        recent = recent_window(reference, now, recent_days or self.config.recent_days)
        self._enough(self._stored(recent), recent, "recent")
        consented = ConsentedEvents(self.engine, self.policy, Purpose.PERSONALIZATION)
        ref, cur = sample_windows(consented, self.catalog.snapshot(), reference, recent)
        self._enough(ref.events, reference, "reference")
        self._enough(cur.events, recent, "recent")
        report = DriftReport(
            created_ms=now,
            champion={"version": version, "saved_at": meta.get("saved_at")},
            reference=reference,
            recent=recent,
            thresholds=self.config.thresholds,
            features=[],
            events={"reference": ref.events, "recent": cur.events},
        )
        self._compare_inputs(report, ref, cur)
        self._compare_scores(report, self._artifact(version), ref, cur)
        save(report, self.folder)
        return report

    def _artifact(self, version: str) -> RecommenderArtifact:
        """The champion's artifact: the one held in memory when it is that version, else loaded
        (only once the windows hold enough events to compare)."""
        held = self._champion.get() if self._champion is not None else None
        if held is not None and self._champion is not None and self._champion.version == version:
            return held
        artifact: RecommenderArtifact = self.recommenders.load(version)
        return artifact

    def _stored(self, window: Window) -> int:
        """The shopper events stored in ``window``, consented or not: a bound read from the time
        index, so a check with too few recent events stops before reading the store through."""
        query = sa.select(sa.func.count()).where(
            shopper_events(),
            events.c.timestamp >= window.start_ms,
            events.c.timestamp < window.end_ms,
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def _enough(self, found: int, window: Window, name: str) -> None:
        if found < self.config.min_events:
            bounds = window.to_dict()
            raise NotEnoughData(
                f"the {name} window ({bounds['start'][:16]} to {bounds['end'][:16]}) holds "
                f"{found} usable events; a drift check needs {self.config.min_events}"
            )

    def _add(self, report: DriftReport, feature: FeatureDrift, sample: Sample) -> None:
        report.features.append(feature)
        report.samples[feature.name] = sample

    def _compare_inputs(self, report: DriftReport, ref: WindowSample, cur: WindowSample) -> None:
        t = self.config.thresholds
        numeric = {
            "price": ("inputs", ref.prices, cur.prices),
            "events_per_profile_day": (
                "events",
                [float(n) for n in ref.per_profile_day.values()],
                [float(n) for n in cur.per_profile_day.values()],
            ),
            "events_per_session": (
                "events",
                [float(n) for n in ref.per_session.values()],
                [float(n) for n in cur.per_session.values()],
            ),
        }
        categorical = {
            "price_band": ("inputs", ref.price_bands, cur.price_bands),
            "category": ("inputs", ref.categories, cur.categories),
            "event_type": ("events", ref.event_types, cur.event_types),
            "hour_of_day": ("events", ref.hours, cur.hours),
        }
        for name, (group, a, b) in numeric.items():
            self._add(report, numeric_drift(name, group, a, b, t), (a, b))
        for name, (group, c, d) in categorical.items():
            self._add(report, categorical_drift(name, group, c, d, t), (c, d))

    def _compare_scores(
        self,
        report: DriftReport,
        artifact: RecommenderArtifact,
        ref: WindowSample,
        cur: WindowSample,
    ) -> None:
        t, n = self.config.thresholds, self.config.score_profiles
        rng = np.random.default_rng(self.config.seed)
        reference = top_scores(artifact, ref.products, sample_profiles(ref.products, n, rng))
        recent = top_scores(artifact, cur.products, sample_profiles(cur.products, n, rng))
        name = "recommender_top_score"
        self._add(report, numeric_drift(name, "scores", reference, recent, t), (reference, recent))
        for score, (version, values) in sorted(
            stored_customer_scores(self.engine, self.policy).items()
        ):
            baseline, written = customer_baseline(self.folder / BASELINES, score, version, values)
            name = f"customer:{score}"
            feature = numeric_drift(name, "scores", baseline, values, t)
            if written:
                feature = FeatureDrift(name, "numeric", "scores", len(baseline), len(values))
                feature.summary = {"baseline": f"written now for model version {version}"}
            self._add(report, feature, (baseline, values))
