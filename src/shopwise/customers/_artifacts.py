"""Settings, artifacts and scoring helpers of the customer models trained from the store.

:class:`CustomerModelsConfig` holds every setting of :mod:`shopwise.customers`; the three
artifact dataclasses are what its training saves in the model registry; the helpers turn an
artifact and a feature frame into the rows the service stores (CLV scores, memberships, sizes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from shopwise.customers.clv import (
    AGE,
    FREQUENCY,
    MONETARY,
    RECENCY,
    BetaGeoModel,
    GammaGammaModel,
    GbmClvModel,
    clv,
    rfm_summary,
)
from shopwise.customers.propensity import LABELS, PropensityConfig, PropensityModel
from shopwise.customers.segments import (
    CART_ABANDONERS_3D,
    LAPSED_VIPS,
    Audience,
    BidConfig,
    LookalikeConfig,
    Segmentation,
    SegmentConfig,
)
from shopwise.schema import Columns

SEGMENT: Final = "segment"
AUDIENCE: Final = "audience"
CUSTOMER_SEGMENT_FEATURES: Final = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "sessions",
    "days_since_event",
    "email_open_rate",
)
"""RFM for the segment names, plus visits, last activity and email engagement, so that shoppers
who browse without buying are told apart too."""
CLV_SCORES: Final = ("p_alive", "expected_purchases", "expected_order_value", "clv", "clv_gbm")


class CustomerModelsConfig(BaseModel):
    """Settings of customer-model training and scoring from the store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: tuple[str, ...] = tuple(LABELS)
    """Propensity labels to train (names in :data:`shopwise.customers.propensity.LABELS`)."""
    cutoff_step_days: float = Field(default=7.0, gt=0)
    """Spacing of the rolling training cutoffs, back from the last one whose window is observed."""
    max_cutoffs: int = Field(default=12, ge=1)
    """Most cutoffs stacked into one propensity training frame."""
    min_history_days: float = Field(default=1.0, ge=0)
    """No cutoff earlier than this many days after the first event."""
    min_positives: int = Field(default=10, ge=2)
    """A label with fewer positive (or negative) training rows is skipped, not fitted."""
    propensity: PropensityConfig = Field(default_factory=PropensityConfig)
    """LightGBM and calibration settings of every propensity model."""
    clv_horizon_days: float = Field(default=90.0, gt=0)
    """Horizon of ``expected_purchases`` and ``clv`` (BG/NBD + Gamma-Gamma), in days."""
    gbm_horizon_days: float = Field(default=30.0, gt=0)
    """Horizon the gradient-boosted CLV learns (``clv_gbm``): features one horizon before the
    latest event, target the spend after them."""
    min_repeat_buyers: int = Field(default=30, ge=1)
    """Gamma-Gamma needs this many repeat buyers; below it order values are the mean order."""
    segments: SegmentConfig = Field(
        default_factory=lambda: SegmentConfig(features=CUSTOMER_SEGMENT_FEATURES)
    )
    """K-Means settings (features, k range)."""
    audiences: tuple[Audience, ...] = (CART_ABANDONERS_3D, LAPSED_VIPS)
    """Rule audiences whose membership is kept current."""
    lookalike: LookalikeConfig = Field(
        default_factory=lambda: LookalikeConfig(features=CUSTOMER_SEGMENT_FEATURES)
    )
    """Lookalike scoring settings."""
    bids: BidConfig = Field(default_factory=BidConfig)
    """Bounds of the exported bid multipliers."""
    seed: int = 0
    """Seed of every model fit."""


@dataclass(frozen=True)
class PropensityArtifact:
    """Calibrated propensity models by label name, as saved in the ``propensity`` family."""

    models: dict[str, PropensityModel]
    trained_until: pd.Timestamp
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClvArtifact:
    """BG/NBD, Gamma-Gamma (``None`` with too few repeat buyers) and the GBM (``None`` without
    enough history), as saved in the ``clv`` family."""

    purchases: BetaGeoModel
    spend: GammaGammaModel | None
    gbm: GbmClvModel | None
    mean_order_value: float
    horizon_days: float
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SegmentArtifact:
    """The fitted segmentation and the audiences evaluated with it (``segments`` family)."""

    segmentation: Segmentation
    audiences: tuple[Audience, ...]
    stats: dict[str, Any] = field(default_factory=dict)


def rolling_cutoffs(
    first: pd.Timestamp, last: pd.Timestamp, window_days: float, config: CustomerModelsConfig
) -> list[pd.Timestamp]:
    """Training cutoffs whose label window ends by ``last``, newest first, spaced by the step."""
    earliest = first + pd.Timedelta(days=config.min_history_days)
    cutoff = last - pd.Timedelta(days=window_days)
    cutoffs: list[pd.Timestamp] = []
    while cutoff >= earliest and len(cutoffs) < config.max_cutoffs:
        cutoffs.append(cutoff)
        cutoff -= pd.Timedelta(days=config.cutoff_step_days)
    return cutoffs


def size_rows(
    members: pd.DataFrame, as_of_ms: int, version: str | None, now: int
) -> list[dict[str, Any]]:
    """``segment_sizes`` rows: the number of members of each segment and audience."""
    sizes = members.groupby(["kind", SEGMENT]).size().reset_index(name="customers")
    return [
        {
            "as_of": as_of_ms,
            "kind": str(row[0]),
            SEGMENT: str(row[1]),
            "customers": int(row[2]),
            "model_version": version,
            "recorded_at": now,
        }
        for row in sizes.itertuples(index=False)
    ]


def score_family(score: str) -> str:
    """The model-registry family a score name comes from (``clv`` or ``propensity``)."""
    return "clv" if score in CLV_SCORES else "propensity"


def clv_scores(
    artifact: ClvArtifact, orders: pd.DataFrame, as_of: pd.Timestamp, features: pd.DataFrame
) -> pd.DataFrame:
    """Lifetime-value scores of every row of ``features`` at ``as_of``.

    Parameters
    ----------
    artifact
        The trained CLV models.
    orders
        Orders frame (read up to ``as_of`` for the BG/NBD summary).
    as_of
        Scoring time.
    features
        Customer features at ``as_of``, indexed by profile.

    Returns
    -------
    pandas.DataFrame
        ``p_alive``, ``expected_purchases`` and ``clv`` for buyers (missing otherwise),
        ``expected_order_value`` for everyone, and ``clv_gbm`` when the GBM was trained.
    """
    summary = rfm_summary(orders, as_of)
    x, t_x, t_age, money = (summary[c] for c in (FREQUENCY, RECENCY, AGE, MONETARY))
    horizon = artifact.horizon_days
    out = pd.DataFrame(index=summary.index)
    out["p_alive"] = artifact.purchases.p_alive(x, t_x, t_age)
    out["expected_purchases"] = artifact.purchases.expected_purchases(horizon, x, t_x, t_age)
    if artifact.spend is not None:
        out["expected_order_value"] = artifact.spend.expected_spend(x, money)
        out["clv"] = clv(artifact.purchases, artifact.spend, x, t_x, t_age, money, horizon=horizon)
    else:
        out["expected_order_value"] = np.where(x > 0, money, artifact.mean_order_value)
        out["clv"] = out["expected_purchases"] * out["expected_order_value"]
    out = out.reindex(features.index)
    # a profile without orders is worth the population's expected order value
    if artifact.spend is not None:
        p, q, v = artifact.spend.params.p, artifact.spend.params.q, artifact.spend.params.v
        population = p * v / (q - 1) if q > 1 else artifact.mean_order_value
    else:
        population = artifact.mean_order_value
    out["expected_order_value"] = out["expected_order_value"].fillna(population)
    if artifact.gbm is not None:
        out["clv_gbm"] = artifact.gbm.predict(features)
    return out


def memberships_frame(artifact: SegmentArtifact, features: pd.DataFrame) -> pd.DataFrame:
    """Rows ``(profile, kind, segment)``: each profile's segment and every audience it is in."""
    parts = [
        pd.DataFrame(
            {
                Columns.PROFILE: features.index,
                "kind": SEGMENT,
                SEGMENT: artifact.segmentation.assign(features).to_numpy(),
            }
        )
    ]
    for audience in artifact.audiences:
        ids = audience.members(features)
        parts.append(pd.DataFrame({Columns.PROFILE: ids, "kind": AUDIENCE, SEGMENT: audience.name}))
    return pd.concat(parts, ignore_index=True)
