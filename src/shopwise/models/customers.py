"""The customer-intelligence service: train, score and export from the event store.

This wires the modelling layer (:mod:`shopwise.models.propensity`, :mod:`shopwise.models.clv`,
:mod:`shopwise.models.segments`) to the store. Training reads the consented events and orders
(:func:`shopwise.features._store.store_frames`, ``analytics`` purpose), fits one model family and
saves a versioned artifact in its :class:`~shopwise.models.registry.ModelRegistry` family
(``propensity``, ``clv``, ``segments``), promoted to champion. :meth:`CustomerIntelligence.refresh`
scores every profile with the champions at the store's latest event time and replaces the rows of
``customer_scores`` and ``segment_memberships``, appending the segment sizes to ``segment_sizes``;
scores are kept only for profiles that allow ``personalization`` and memberships only for those
that allow ``marketing``. :meth:`~CustomerIntelligence.scores_of` reads the stored scores by any
linked id, for the API and for decision thresholds (``Runtime.score_provider``).
:func:`customer_jobs` gives the worker its scheduled refresh and retraining.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Collection
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import pandas as pd
import sqlalchemy as sa

from shopwise.errors import Unavailable
from shopwise.features import customer_features
from shopwise.features._store import (
    DO_NOT_SELL,
    ItemInfo,
    StoreFrames,
    store_frames,
)
from shopwise.jobs import Job
from shopwise.models._customer_models import (
    AUDIENCE,
    CUSTOMER_SEGMENT_FEATURES,
    SEGMENT,
    ClvArtifact,
    CustomerModelsConfig,
    PropensityArtifact,
    SegmentArtifact,
    clv_scores,
    memberships_frame,
    rolling_cutoffs,
    score_family,
    size_rows,
)
from shopwise.models.clv import (
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
from shopwise.models.propensity import (
    LABELS,
    PropensityModel,
    fit_propensity,
    training_frame,
)
from shopwise.models.registry import ModelRegistry
from shopwise.models.segments import (
    bid_multipliers,
    fit_segments,
    lookalike_scores,
    write_audience_csv,
    write_bids_csv,
)
from shopwise.profiles import Profiles, consent_choices, refusing_profiles
from shopwise.schema import Columns, Purpose
from shopwise.store import (
    customer_scores,
    profiles,
    segment_memberships,
    segment_sizes,
    write_transaction,
)

if TYPE_CHECKING:
    from shopwise.runtime import Runtime

__all__ = [
    "CUSTOMER_SEGMENT_FEATURES",
    "FAMILIES",
    "ClvArtifact",
    "CustomerIntelligence",
    "CustomerModelsConfig",
    "ModelNotTrained",
    "PropensityArtifact",
    "SegmentArtifact",
    "customer_jobs",
    "rolling_cutoffs",
]

Progress = Callable[[str], None]
FAMILIES: Final = ("propensity", "clv", "segments")
"""Model-registry families of the customer models."""
_CENSORED = ".*labels are censored"


def _quiet(_message: str) -> None:
    """A progress reporter that reports nothing."""


def _ms(stamp: pd.Timestamp) -> int:
    return round(stamp.timestamp() * 1000)


class ModelNotTrained(Unavailable):
    """A customer model that a read or export needs has not been trained yet."""

    code = "model_not_trained"


def _span(frames: StoreFrames) -> tuple[pd.Timestamp, pd.Timestamp]:
    latest = frames.latest
    if latest is None:
        raise ValueError("no consented events in the store to train on")
    parts = [f[Columns.TIME].min() for f in (frames.events, frames.orders) if len(f)]
    return min(parts), latest


class CustomerIntelligence:
    """Training, scoring, score reads and audience exports over one store (see module doc).

    Cheap to build: it holds the engine and registry handles only, so routers and commands build
    one per call with :meth:`from_runtime`.
    """

    def __init__(
        self,
        engine: sa.Engine,
        profiles: Profiles,
        models_dir: Path,
        *,
        item_info: ItemInfo | None = None,
        config: CustomerModelsConfig | None = None,
    ) -> None:
        self.engine = engine
        self.profiles = profiles
        self.config = config or CustomerModelsConfig()
        self.item_info = item_info
        self.registries = {family: ModelRegistry(models_dir, family) for family in FAMILIES}

    @classmethod
    def from_runtime(
        cls, runtime: Runtime, config: CustomerModelsConfig | None = None
    ) -> CustomerIntelligence:
        """The service over a runtime's store, profiles, catalog and model directory."""
        return cls(
            runtime.engine,
            runtime.profiles,
            runtime.settings.models_dir,
            item_info=runtime.catalog.item_info,
            config=config,
        )

    # -- training -----------------------------------------------------------------------------

    def frames(self) -> StoreFrames:
        """The consented (``analytics``) events and orders frames of the store."""
        return store_frames(self.engine, Purpose.ANALYTICS, item_info=self.item_info)

    def _save(self, family: str, artifact: object, stats: dict[str, Any]) -> dict[str, Any]:
        version = self.registries[family].save(artifact, stats, promote=True)
        return {**stats, "version": version}

    def train_propensity(
        self, progress: Progress = _quiet, frames: StoreFrames | None = None
    ) -> dict[str, Any]:
        """Fit every configured label that the data can support; save and promote the artifact.

        Labels whose window is longer than the history, or with fewer than ``min_positives``
        positive or negative rows, are skipped and named in the result's ``skipped``.
        """
        cfg = self.config
        data = frames or self.frames()
        first, last = _span(data)
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
                features, labels = training_frame(data.events, data.orders, spec, cutoffs)
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
            raise ValueError(f"no propensity label could be trained: {stats['skipped']}")
        stats["excluded_events_without_consent"] = data.excluded_events
        artifact = PropensityArtifact(models, last, stats)
        return self._save("propensity", artifact, stats)

    def train_clv(
        self, progress: Progress = _quiet, frames: StoreFrames | None = None
    ) -> dict[str, Any]:
        """Fit BG/NBD and Gamma-Gamma on all orders, and the GBM one horizon back when possible."""
        cfg = self.config
        data = frames or self.frames()
        first, last = _span(data)
        if data.orders.empty:
            raise ValueError("no consented orders in the store to fit lifetime value on")
        progress(f"BG/NBD on {data.orders[Columns.PROFILE].nunique()} buyers")
        summary = rfm_summary(data.orders, last)
        purchases = fit_bgnbd(summary[FREQUENCY], summary[RECENCY], summary[AGE])
        repeat = int(((summary[FREQUENCY] > 0) & (summary[MONETARY] > 0)).sum())
        spend = None
        if repeat >= cfg.min_repeat_buyers:
            progress(f"Gamma-Gamma on {repeat} repeat buyers")
            spend = fit_gamma_gamma(summary[FREQUENCY], summary[MONETARY])
        gbm, gbm_note = self._fit_gbm(data, first, last, progress)
        stats: dict[str, Any] = {
            "buyers": len(summary),
            "repeat_buyers": repeat,
            "bgnbd": vars(purchases.params),
            "gamma_gamma": None if spend is None else vars(spend.params),
            "gbm": gbm_note,
            "horizon_days": cfg.clv_horizon_days,
            "excluded_events_without_consent": data.excluded_events,
        }
        mean_order = float(data.orders[Columns.REVENUE].mean())
        artifact = ClvArtifact(purchases, spend, gbm, mean_order, cfg.clv_horizon_days, stats)
        return self._save("clv", artifact, stats)

    def _fit_gbm(
        self, data: StoreFrames, first: pd.Timestamp, last: pd.Timestamp, progress: Progress
    ) -> tuple[GbmClvModel | None, str]:
        horizon = self.config.gbm_horizon_days
        cutoff = last - pd.Timedelta(days=horizon)
        if cutoff < first + pd.Timedelta(days=self.config.min_history_days):
            return None, f"skipped: needs more than {horizon:g} days of history"
        features = customer_features(data.events, data.orders, cutoff)
        later = data.orders.loc[data.orders[Columns.TIME] > cutoff]
        target = later.groupby(Columns.PROFILE)[Columns.REVENUE].sum()
        target = target.reindex(features.index).fillna(0.0)
        if int((target > 0).sum()) < self.config.min_positives:
            return None, "skipped: too few buyers in the horizon"
        progress(f"gradient-boosted CLV on {len(features)} profiles")
        model = fit_gbm_clv(features, target, horizon_days=horizon, seed=self.config.seed)
        return model, f"trained on features at {cutoff}, spend of the next {horizon:g} days"

    def train_segments(
        self, progress: Progress = _quiet, frames: StoreFrames | None = None
    ) -> dict[str, Any]:
        """Fit K-Means (k by silhouette) on the features at the latest event; save and promote."""
        cfg = self.config
        data = frames or self.frames()
        _, last = _span(data)
        features = customer_features(data.events, data.orders, last)
        progress(f"K-Means on {len(features)} profiles, k {cfg.segments.k_min}..")
        segmentation = fit_segments(features, cfg.segments, seed=cfg.seed)
        sizes = segmentation.assign(features).value_counts()
        stats: dict[str, Any] = {
            "profiles": len(features),
            "k": segmentation.k,
            "silhouettes": {str(k): v for k, v in segmentation.silhouettes.items()},
            "segments": {str(name): int(n) for name, n in sizes.items()},
            "excluded_events_without_consent": data.excluded_events,
        }
        return self._save("segments", SegmentArtifact(segmentation, cfg.audiences, stats), stats)

    def train_all(self, progress: Progress = _quiet) -> dict[str, Any]:
        """Train the three families on one read of the store, then refresh every score."""
        data = self.frames()
        trainers = {
            "propensity": self.train_propensity,
            "clv": self.train_clv,
            "segments": self.train_segments,
        }
        result: dict[str, Any] = {}
        for family, trainer in trainers.items():
            try:
                result[family] = trainer(progress, data)
            except ValueError as exc:  # too little data for this family: the others still train
                result[family] = {"skipped": str(exc)}
        result["refresh"] = self.refresh(progress, frames=data)
        return result

    def needs_training(self, max_age_seconds: float) -> bool:
        """Whether a family has no champion or a champion older than ``max_age_seconds``."""
        for registry in self.registries.values():
            version = registry.champion()
            if version is None:
                return True
            saved = pd.Timestamp(registry.meta(version)["saved_at"])
            if (pd.Timestamp.now(tz="UTC") - saved).total_seconds() > max_age_seconds:
                return True
        return False

    # -- scoring ------------------------------------------------------------------------------

    def champion(self, family: str) -> tuple[str, Any] | None:
        """``(version, artifact)`` of the family's champion, or ``None`` before any training."""
        registry = self.registries[family]
        version = registry.champion()
        return None if version is None else (version, registry.load(version))

    def score_frame(self, frames: StoreFrames | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Scores and memberships of every profile at the store's latest event.

        Returns
        -------
        tuple
            ``(scores, members)``: scores has one column per score (missing where a model does not
            apply) and ``as_of`` / model versions in ``attrs``; members has columns profile,
            ``kind``, ``segment``.
        """
        data = frames or self.frames()
        _, last = _span(data)
        features = customer_features(data.events, data.orders, last)
        scores = pd.DataFrame(index=features.index)
        versions: dict[str, str] = {}
        found = self.champion("propensity")
        if found is not None:
            versions["propensity"], artifact = found
            for name, model in artifact.models.items():
                scores[name] = model.score(features)
        found = self.champion("clv")
        if found is not None:
            versions["clv"], artifact = found
            scores = scores.join(clv_scores(artifact, data.orders, last, features))
        members = pd.DataFrame(columns=[Columns.PROFILE, "kind", SEGMENT])
        found = self.champion("segments")
        if found is not None:
            versions["segments"], artifact = found
            members = memberships_frame(artifact, features)
        scores.attrs.update(as_of=last, versions=versions)
        return scores, members

    def refresh(
        self,
        progress: Progress = _quiet,
        *,
        only: Collection[str] | None = None,
        frames: StoreFrames | None = None,
    ) -> dict[str, Any]:
        """Score profiles with the champions and store the results (see module docstring).

        Parameters
        ----------
        progress
            Progress reporter.
        only
            Canonical profile ids to rewrite; all profiles (and a segment-size snapshot) when
            ``None``. Features are always computed on the whole population, since quintile scores
            and segment scaling depend on it.
        frames
            Frames already read from the store.

        Returns
        -------
        dict
            Counts of stored scores and memberships, ``as_of`` and the model versions used.
        """
        progress("scoring profiles")
        scores, members = self.score_frame(frames)
        as_of: pd.Timestamp = scores.attrs["as_of"]
        versions: dict[str, str] = scores.attrs["versions"]
        no_scores = refusing_profiles(self.engine, Purpose.PERSONALIZATION)
        no_segments = refusing_profiles(self.engine, Purpose.MARKETING)
        long = scores.rename_axis(Columns.PROFILE).reset_index()
        long = long.melt(id_vars=Columns.PROFILE, var_name="name", value_name="value").dropna()
        long = long.loc[~long[Columns.PROFILE].isin(list(no_scores))]
        members = members.loc[~members[Columns.PROFILE].isin(list(no_segments))]
        if only is not None:
            wanted = list(only)
            long = long.loc[long[Columns.PROFILE].isin(wanted)]
            members = members.loc[members[Columns.PROFILE].isin(wanted)]
        now = int(time.time() * 1000)
        stamp = _ms(as_of)
        version_of = {name: versions.get(score_family(name), "") for name in scores.columns}
        score_rows = [
            {
                Columns.PROFILE: str(row[0]),
                "name": str(row[1]),
                "value": float(row[2]),
                "model_version": version_of[str(row[1])],
                "as_of": stamp,
                "scored_at": now,
            }
            for row in long.itertuples(index=False)
        ]
        member_rows = [
            {
                Columns.PROFILE: str(row[0]),
                "kind": str(row[1]),
                SEGMENT: str(row[2]),
                "as_of": stamp,
                "scored_at": now,
            }
            for row in members.itertuples(index=False)
        ]
        with write_transaction(self.engine) as conn:
            self._replace(conn, only, score_rows, member_rows)
            if only is None and len(members):
                rows = size_rows(members, stamp, versions.get("segments"), now)
                conn.execute(segment_sizes.insert(), rows)
        return {
            "as_of": as_of.isoformat(),
            "profiles": int(long[Columns.PROFILE].nunique()),
            "scores": len(score_rows),
            "memberships": len(member_rows),
            "versions": versions,
        }

    @staticmethod
    def _replace(
        conn: sa.Connection,
        only: Collection[str] | None,
        score_rows: list[dict[str, Any]],
        member_rows: list[dict[str, Any]],
    ) -> None:
        for table in (customer_scores, segment_memberships):
            delete = table.delete()
            if only is not None:
                delete = delete.where(table.c[Columns.PROFILE].in_(list(only)))
            conn.execute(delete)
        if score_rows:
            conn.execute(customer_scores.insert(), score_rows)
        if member_rows:
            conn.execute(segment_memberships.insert(), member_rows)

    # -- reads --------------------------------------------------------------------------------

    def _refused(self, conn: sa.Connection, profile: str) -> set[str]:
        """Purposes the profile's latest consent refuses (checked on every read, so a
        withdrawal takes effect before the next refresh removes the rows)."""
        query = sa.select(profiles.c.state).where(profiles.c.profile_id == profile)
        state = conn.execute(query).scalar_one_or_none() or {}
        return {name for name, choice in (state.get("consent") or {}).items() if not choice[0]}

    def scores_of(self, any_id: str) -> dict[str, float]:
        """Stored scores of the profile behind ``any_id`` (empty when unknown, unscored or the
        profile refuses personalization).

        This is the ``Runtime.score_provider`` hook that decision thresholds read.
        """
        profile = self.profiles.canonical(any_id)
        if profile is None:
            return {}
        query = sa.select(customer_scores.c.name, customer_scores.c.value).where(
            customer_scores.c[Columns.PROFILE] == profile
        )
        with self.engine.connect() as conn:
            if Purpose.PERSONALIZATION in self._refused(conn, profile):
                return {}
            return {row.name: float(row.value) for row in conn.execute(query)}

    def profile_scores(self, any_id: str) -> dict[str, Any] | None:
        """Scores, segment and audiences of a profile for the API; ``None`` for an unknown id."""
        profile = self.profiles.canonical(any_id)
        if profile is None:
            return None
        with self.engine.connect() as conn:
            refused = self._refused(conn, profile)
            rows = conn.execute(
                sa.select(customer_scores).where(customer_scores.c[Columns.PROFILE] == profile)
            ).all()
            groups = conn.execute(
                sa.select(segment_memberships.c.kind, segment_memberships.c.segment).where(
                    segment_memberships.c[Columns.PROFILE] == profile
                )
            ).all()
        if Purpose.PERSONALIZATION in refused:
            rows = []
        if Purpose.MARKETING in refused:
            groups = []
        segments = [row.segment for row in groups if row.kind == SEGMENT]
        return {
            Columns.PROFILE: profile,
            "scores": {row.name: float(row.value) for row in rows},
            "segment": segments[0] if segments else None,
            "audiences": sorted(row.segment for row in groups if row.kind == AUDIENCE),
            "as_of": _iso(max((row.as_of for row in rows), default=None)),
            "scored_at": _iso(max((row.scored_at for row in rows), default=None)),
            "model_versions": sorted({row.model_version for row in rows}),
        }

    def segment_history(self, kind: str | None = None, since_ms: int = 0) -> list[dict[str, Any]]:
        """Segment and audience sizes at each full refresh, oldest first."""
        query = sa.select(segment_sizes).where(segment_sizes.c.as_of >= since_ms)
        if kind is not None:
            query = query.where(segment_sizes.c.kind == kind)
        query = query.order_by(segment_sizes.c.id)
        with self.engine.connect() as conn:
            return [
                {
                    "as_of": _iso(row.as_of),
                    "recorded_at": _iso(row.recorded_at),
                    "kind": row.kind,
                    SEGMENT: row.segment,
                    "customers": row.customers,
                    "model_version": row.model_version,
                }
                for row in conn.execute(query)
            ]

    # -- exports ------------------------------------------------------------------------------

    def ad_consent(self) -> Callable[[str], bool]:
        """The export consent predicate: advertising granted and no CCPA opt-out of sale."""
        advertising = consent_choices(self.engine, Purpose.ADVERTISING)
        opted_out = {p for p, sold in consent_choices(self.engine, DO_NOT_SELL).items() if sold}
        return lambda profile: advertising.get(profile) is True and profile not in opted_out

    def export_audiences(
        self,
        lookalikes: str | Path | IO[str],
        bids: str | Path | IO[str] | None = None,
        *,
        seed_share: float = 0.1,
        top_n: int = 1000,
    ) -> dict[str, Any]:
        """Write the lookalike audience of the top CLV customers, and the bid table, as CSV.

        The seed is the top ``seed_share`` of profiles by ``clv_gbm`` (else ``clv``, else the
        purchase propensity) in the current scores; every other profile is scored by similarity
        and the best ``top_n`` that pass :meth:`ad_consent` and have an email are written with
        SHA-256-hashed emails. Bids are per K-Means segment: purchase propensity times expected
        order value, bounded and explained.
        """
        data = self.frames()
        scores, members = self.score_frame(data)
        _, last = _span(data)
        features = customer_features(data.events, data.orders, last)
        value = _seed_value(scores)
        seed = value.nlargest(max(1, round(len(value) * seed_share))).index
        similar = lookalike_scores(features, list(seed), self.config.lookalike)
        allowed = self.ad_consent()
        written = write_audience_csv(lookalikes, similar, self._emails(), allowed, top_n=top_n)
        result: dict[str, Any] = {"seed": len(seed), "candidates": len(similar), "rows": written}
        if bids is not None:
            table = self.bid_table(scores, members)
            result["bid_rows"] = write_bids_csv(bids, table)
        return result

    def export_bids(self, target: str | Path | IO[str]) -> int:
        """Write the current bid table as CSV; returns the number of rows."""
        scores, members = self.score_frame()
        return write_bids_csv(target, self.bid_table(scores, members))

    def bid_table(self, scores: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
        """Bid multipliers per K-Means segment (see :func:`bid_multipliers`)."""
        segments = members.loc[members["kind"] == SEGMENT].set_index(Columns.PROFILE)[SEGMENT]
        if segments.empty or "purchase_7d" not in scores or "expected_order_value" not in scores:
            raise ModelNotTrained("bids need trained propensity, CLV and segment models")
        return bid_multipliers(
            segments, scores["purchase_7d"], scores["expected_order_value"], self.config.bids
        )

    def _emails(self) -> pd.Series:
        emails: dict[str, str] = {}
        query = sa.select(profiles.c.profile_id, profiles.c.state).where(
            profiles.c.merged_into.is_(None)
        )
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                email = (row.state.get("traits") or {}).get("email")
                if email and isinstance(email[0], str):
                    emails[row.profile_id] = email[0]
        return pd.Series(emails, dtype=object)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


def _seed_value(scores: pd.DataFrame) -> pd.Series:
    for name in ("clv_gbm", "clv", "purchase_7d"):
        if name in scores and scores[name].notna().any():
            column: pd.Series = scores[name].dropna()
            return column
    raise ModelNotTrained("lookalikes need a trained CLV or propensity model")


SCORE_REFRESH_SECONDS: Final = 60 * 60
TRAIN_SECONDS: Final = 24 * 60 * 60


def customer_jobs(
    runtime: Runtime,
    *,
    refresh_seconds: float = SCORE_REFRESH_SECONDS,
    train_seconds: float = TRAIN_SECONDS,
    config: CustomerModelsConfig | None = None,
) -> list[Job]:
    """The worker's customer-intelligence job: refresh scores every ``refresh_seconds``.

    One job (one lock), so a refresh never races a retraining: a run retrains every family first
    when a champion is missing or older than ``train_seconds``, then stores fresh scores.
    """

    def run(progress: Progress) -> dict[str, Any]:
        service = CustomerIntelligence.from_runtime(runtime, config)
        if service.needs_training(train_seconds):
            return service.train_all(progress)
        return service.refresh(progress)

    return [Job(name="refresh-customer-scores", every_seconds=refresh_seconds, run=run)]
