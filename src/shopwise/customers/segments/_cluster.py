"""Behavioural segments: K-Means with k chosen by silhouette, DBSCAN, plain-word segment names.

Customers are clustered on RFM and behaviour features after a log transform of the heavy-tailed
columns and standard scaling, so no single unit (days, pounds, counts) dominates. K-Means tries each
k in a range and keeps the one with the best silhouette (computed on a seeded sample for speed);
every score is kept for the report. DBSCAN finds dense groups and outliers without a k. Each K-Means
segment is named from its centroid's recency, frequency and monetary position ("champions",
"at risk", ...), so marketers read names rather than cluster numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.cluster import DBSCAN, KMeans
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from shopwise.errors import NotEnoughData

FloatArray = npt.NDArray[np.float64]
SEGMENT_FEATURES = ("recency_days", "frequency", "monetary", "aov", "tenure_days")
"""Default clustering features (columns of :func:`shopwise.features.customer_features`)."""
LOG_FEATURES = frozenset({"frequency", "monetary", "aov", "views", "sessions", "events"})


class SegmentConfig(BaseModel):
    """Settings of the segmentation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: tuple[str, ...] = SEGMENT_FEATURES
    """Feature columns to cluster on; missing values are filled with the column median."""
    k_min: int = Field(default=3, ge=2)
    """Smallest k tried."""
    k_max: int = Field(default=8, ge=2)
    """Largest k tried."""
    n_init: int = Field(default=4, ge=1)
    """K-Means restarts per k (the best inertia is kept)."""
    silhouette_sample: int = Field(default=3000, ge=100)
    """Rows sampled to compute each silhouette score."""
    dbscan_min_samples: int = Field(default=10, ge=2)
    """DBSCAN core-point neighbourhood size."""
    dbscan_quantile: float = Field(default=0.9, gt=0, lt=1)
    """``eps`` is this quantile of the distance to the ``min_samples``-th neighbour."""


@dataclass(frozen=True)
class Scaling:
    """Median fill, log transform and standard scaling learned from the training customers."""

    features: tuple[str, ...]
    medians: dict[str, float]
    scaler: StandardScaler

    def transform(self, frame: pd.DataFrame) -> FloatArray:
        """Scaled matrix of ``frame``'s segment features."""
        values = frame[list(self.features)].astype(float).fillna(self.medians)
        for name in self.features:
            if name in LOG_FEATURES:
                values[name] = np.log1p(values[name].clip(lower=0))
        return np.asarray(self.scaler.transform(values.to_numpy()), dtype=np.float64)


def fit_scaling(frame: pd.DataFrame, features: tuple[str, ...]) -> Scaling:
    """Learn the :class:`Scaling` of ``features`` on ``frame``."""
    values = frame[list(features)].astype(float)
    medians = {name: float(values[name].median()) for name in features}
    values = values.fillna(medians)
    for name in features:
        if name in LOG_FEATURES:
            values[name] = np.log1p(values[name].clip(lower=0))
    return Scaling(features, medians, StandardScaler().fit(values.to_numpy()))


@dataclass(frozen=True)
class Segmentation:
    """A fitted K-Means segmentation with named segments."""

    scaling: Scaling
    kmeans: KMeans
    silhouettes: dict[int, float]
    names: tuple[str, ...]

    @property
    def k(self) -> int:
        """Number of segments."""
        return int(self.kmeans.n_clusters)

    def assign(self, frame: pd.DataFrame) -> pd.Series:
        """The segment name of each row of ``frame``."""
        labels = self.kmeans.predict(self.scaling.transform(frame))
        return pd.Series(np.asarray(self.names)[labels], index=frame.index, name="segment")


def name_segment(recency: float, frequency: float, monetary: float, tenure: float = 0.0) -> str:
    """Plain-word name of a centroid from its standardised recency, frequency, monetary value.

    ``recency`` and ``tenure`` are in days (standardised): a negative recency means recent buyers,
    a positive tenure long-standing ones (who are not "new" even with a single recent order).
    """
    recent, frequent, valuable = recency < -0.3, frequency > 0.3, monetary > 0.3
    if recent and frequent and valuable:
        return "champions"
    if recent and (frequent or valuable):
        return "loyal customers"
    if recent:
        return "occasional buyers" if tenure > 0.3 else "new customers"
    if recency > 0.5 and (frequent or valuable):
        return "at risk"
    if recency > 0.5:
        return "hibernating"
    if frequent or valuable:
        return "need attention"
    return "occasional buyers"


def _names(centroids: FloatArray, features: tuple[str, ...]) -> tuple[str, ...]:
    def column(name: str) -> FloatArray:
        if name in features:
            return centroids[:, features.index(name)]
        return np.zeros(len(centroids))

    raw = [
        name_segment(r, f, m, t)
        for r, f, m, t in zip(
            column("recency_days"),
            column("frequency"),
            column("monetary"),
            column("tenure_days"),
            strict=True,
        )
    ]
    # Two centroids may earn the same name; number them by value so names stay unique.
    value = column("monetary") + column("frequency")
    names = list(raw)
    for name in set(raw):
        members = [i for i, label in enumerate(raw) if label == name]
        if len(members) > 1:
            for rank, i in enumerate(sorted(members, key=lambda i: -value[i]), start=1):
                names[i] = f"{name} {rank}"
    return tuple(names)


def fit_segments(
    frame: pd.DataFrame, config: SegmentConfig | None = None, *, seed: int = 0
) -> Segmentation:
    """Fit K-Means for each k in the configured range and keep the best silhouette.

    Parameters
    ----------
    frame
        Customer features, one row per customer.
    config
        Segmentation settings.
    seed
        Seed of K-Means and of the silhouette sample.

    Returns
    -------
    Segmentation
        The chosen model, the silhouette of every k tried and the segment names.
    """
    cfg = config or SegmentConfig()
    scaling = fit_scaling(frame, cfg.features)
    matrix = scaling.transform(frame)
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(matrix), size=min(cfg.silhouette_sample, len(matrix)), replace=False)
    silhouettes: dict[int, float] = {}
    models: dict[int, KMeans] = {}
    for k in range(cfg.k_min, min(cfg.k_max, len(matrix) - 1) + 1):
        model = KMeans(n_clusters=k, n_init=cfg.n_init, random_state=seed).fit(matrix)
        labels = model.labels_[sample]
        if len(np.unique(labels)) < 2:
            continue
        silhouettes[k] = float(silhouette_score(matrix[sample], labels, random_state=seed))
        models[k] = model
    if not models:
        raise NotEnoughData("no k in the range gave two or more clusters")
    best = max(silhouettes, key=lambda k: silhouettes[k])
    chosen = models[best]
    names = _names(np.asarray(chosen.cluster_centers_, dtype=np.float64), cfg.features)
    return Segmentation(scaling, chosen, silhouettes, names)


def dbscan_segments(
    frame: pd.DataFrame, config: SegmentConfig | None = None, *, eps: float | None = None
) -> pd.Series:
    """DBSCAN cluster of each customer (-1 marks outliers).

    Parameters
    ----------
    frame
        Customer features.
    config
        Settings (features, ``min_samples``, the ``eps`` quantile).
    eps
        Neighbourhood radius in scaled units; by default the configured quantile of each point's
        distance to its ``min_samples``-th neighbour.

    Returns
    -------
    pandas.Series
        Integer cluster per row of ``frame``.
    """
    cfg = config or SegmentConfig()
    matrix = fit_scaling(frame, cfg.features).transform(frame)
    if eps is None:
        neighbours = NearestNeighbors(n_neighbors=min(cfg.dbscan_min_samples, len(matrix)))
        distances, _ = neighbours.fit(matrix).kneighbors(matrix)
        eps = float(np.quantile(distances[:, -1], cfg.dbscan_quantile)) or 1e-6
    labels = DBSCAN(eps=eps, min_samples=cfg.dbscan_min_samples).fit_predict(matrix)
    return pd.Series(labels, index=frame.index, name="dbscan")


def segment_profiles(frame: pd.DataFrame, segments: pd.Series) -> pd.DataFrame:
    """Size, share and median features of each segment (for docs and the dashboard)."""
    numeric = frame.select_dtypes("number")
    table = numeric.groupby(segments).median()
    sizes = segments.value_counts()
    table.insert(0, "share", sizes / sizes.sum())
    table.insert(0, "customers", sizes)
    return table.sort_values("customers", ascending=False)


def segment_sizes(segments: pd.Series, as_of: pd.Timestamp) -> pd.DataFrame:
    """Rows ``(as_of, segment, customers)`` for the segment-size history of the dashboard."""
    counts = segments.value_counts().sort_index()
    return pd.DataFrame(
        {"as_of": as_of, "segment": counts.index.astype(str), "customers": counts.to_numpy()}
    )
