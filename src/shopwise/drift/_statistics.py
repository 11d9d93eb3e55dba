"""Two-sample drift statistics and the per-feature verdict.

Pure functions of two samples (the reference window's and the recent window's), no I/O:

- numeric features: the two-sample Kolmogorov-Smirnov test (:func:`ks_test`), the population
  stability index over quantile bins of the reference (:func:`psi_numeric`) and the Wasserstein
  distance divided by the reference's standard deviation (:func:`wasserstein_normalised`), so a
  threshold reads as "the mass moved by this many reference spreads";
- categorical features: the PSI over the categories of both windows (:func:`psi_categorical`) and
  the chi-square test of the 2 x k table with Cramer's V as its effect size (:func:`chi_square`).

A p-value alone flags noise on large samples (any difference is significant on a million events),
so every test pairs it with a minimum effect; and an effect alone flags noise on small ones (the
PSI of two samples of one distribution is about ``(bins - 1) * (1 / n_reference + 1 / n_recent)``,
near the usual threshold for a hundred values a window), so the PSI counts only when the
chi-square test of its bins is significant too (:class:`DriftThresholds`). :func:`numeric_drift`
and :func:`categorical_drift` apply them and name the tests that fired.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

FloatArray = npt.NDArray[np.float64]
Kind = Literal["numeric", "categorical"]

EPSILON: Final = 1e-4
"""The share an empty bin counts as in the PSI (its log would be infinite)."""


class DriftThresholds(BaseModel):
    """When a feature has drifted (see :func:`numeric_drift` and :func:`categorical_drift`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    psi: float = Field(default=0.2, gt=0)
    """PSI at or above this is drift (0.1-0.2 is the usual "watch" band) ..."""
    psi_p_value: float = Field(default=0.01, gt=0, lt=1)
    """... when the chi-square p-value of its bins is below this (small samples' PSI is noisy)."""
    ks_p_value: float = Field(default=0.01, gt=0, lt=1)
    """KS p-value below which the KS statistic is read ..."""
    ks_statistic: float = Field(default=0.1, gt=0, le=1)
    """... and KS D at or above which the difference is large enough to matter."""
    wasserstein: float = Field(default=0.1, gt=0)
    """Normalised Wasserstein distance at or above which a large numeric sample has drifted."""
    large_sample: int = Field(default=1000, ge=1)
    """Both windows at least this large: numeric features use Wasserstein instead of KS."""
    chi2_p_value: float = Field(default=0.01, gt=0, lt=1)
    """Chi-square p-value below which Cramer's V is read ..."""
    cramers_v: float = Field(default=0.1, gt=0, le=1)
    """... and Cramer's V at or above which a categorical difference matters."""
    min_samples: int = Field(default=30, ge=2)
    """Fewer values in either window: the feature is not tested (verdict ``None``)."""
    bins: int = Field(default=10, ge=2, le=100)
    """Quantile bins of the reference for the numeric PSI."""


@dataclass(frozen=True)
class KsResult:
    statistic: float
    p_value: float


@dataclass(frozen=True)
class ChiSquareResult:
    statistic: float
    p_value: float
    cramers_v: float


def ks_test(reference: Sequence[float], recent: Sequence[float]) -> KsResult:
    """The two-sample Kolmogorov-Smirnov test (two-sided, scipy's exact/asymptotic choice)."""
    result = stats.ks_2samp(np.asarray(reference, float), np.asarray(recent, float))
    return KsResult(float(result.statistic), float(result.pvalue))


def _psi(expected: FloatArray, actual: FloatArray, epsilon: float) -> float:
    """PSI of two share vectors over the same bins, empty bins counted as ``epsilon``."""
    expected = np.where(expected > 0, expected, epsilon)
    actual = np.where(actual > 0, actual, epsilon)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def quantile_edges(reference: Sequence[float], bins: int) -> FloatArray:
    """The interior edges of ``bins`` quantile bins of ``reference`` (fewer where values tie)."""
    edges = np.quantile(np.asarray(reference, float), np.linspace(0, 1, bins + 1))
    return np.unique(edges[1:-1])


def binned(
    reference: Sequence[float], recent: Sequence[float], bins: int = 10
) -> tuple[FloatArray, FloatArray]:
    """Both samples' counts over ``bins`` quantile bins of ``reference``: ``(-inf, q1], (q1, q2],
    ..., (q_k, inf)``, so every reference bin holds about ``1 / bins`` of it and recent values
    beyond its range fall in the end bins."""
    edges = quantile_edges(reference, bins)
    n_bins = len(edges) + 1
    ref = np.bincount(np.searchsorted(edges, np.asarray(reference, float), "left"), None, n_bins)
    cur = np.bincount(np.searchsorted(edges, np.asarray(recent, float), "left"), None, n_bins)
    return ref.astype(float), cur.astype(float)


def psi_numeric(
    reference: Sequence[float],
    recent: Sequence[float],
    bins: int = 10,
    epsilon: float = EPSILON,
) -> float:
    """The population stability index over quantile bins of ``reference`` (:func:`binned`);
    empty bins count as ``epsilon``."""
    ref, cur = binned(reference, recent, bins)
    return _psi(ref / ref.sum(), cur / cur.sum(), epsilon)


def category_counts(
    reference: Sequence[str], recent: Sequence[str]
) -> tuple[list[str], FloatArray, FloatArray]:
    """The categories of either sample (sorted) and each sample's counts over them."""
    ref, cur = Counter(reference), Counter(recent)
    names = sorted(set(ref) | set(cur))
    return (
        names,
        np.asarray([ref[n] for n in names], float),
        np.asarray([cur[n] for n in names], float),
    )


def psi_categorical(
    reference: Sequence[str], recent: Sequence[str], epsilon: float = EPSILON
) -> float:
    """The PSI over the categories of both samples (a category new in ``recent`` has a
    reference share of ``epsilon``)."""
    _names, ref, cur = category_counts(reference, recent)
    return _psi(ref / ref.sum(), cur / cur.sum(), epsilon)


def chi_square(reference: Sequence[str], recent: Sequence[str]) -> ChiSquareResult:
    """Pearson's chi-square test of the 2 x k table of category counts (no continuity correction),
    with Cramer's V, ``sqrt(chi2 / n)`` for two rows."""
    _names, ref, cur = category_counts(reference, recent)
    return chi_square_counts(ref, cur)


def chi_square_counts(ref: FloatArray, cur: FloatArray) -> ChiSquareResult:
    """:func:`chi_square` of two count vectors over the same bins (empty bins left out)."""
    keep = (ref + cur) > 0
    ref, cur = ref[keep], cur[keep]
    if len(ref) < 2:
        return ChiSquareResult(0.0, 1.0, 0.0)
    result = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    chi2 = float(result.statistic)
    return ChiSquareResult(
        chi2, float(result.pvalue), float(np.sqrt(chi2 / (ref.sum() + cur.sum())))
    )


def spread(reference: Sequence[float]) -> float:
    """The scale Wasserstein is divided by: the reference's standard deviation, else (a constant
    reference) its absolute value, else 1."""
    values = np.asarray(reference, float)
    std = float(values.std())
    if std > 0:
        return std
    return max(abs(float(values.mean())), 1.0)


def wasserstein_normalised(reference: Sequence[float], recent: Sequence[float]) -> float:
    """The first Wasserstein distance between the samples divided by :func:`spread`."""
    distance = stats.wasserstein_distance(np.asarray(reference, float), np.asarray(recent, float))
    return float(distance) / spread(reference)


@dataclass
class FeatureDrift:
    """One feature compared between the windows.

    Attributes
    ----------
    name, kind, group
        The feature, ``numeric`` or ``categorical``, and what it describes (``inputs``,
        ``events``, ``scores``).
    n_reference, n_recent
        Values in each window.
    statistics
        Every statistic computed (``psi``, ``psi_p_value`` of its bins, ``ks_statistic``,
        ``ks_p_value``, ``wasserstein``, or ``chi2``, ``chi2_p_value``, ``cramers_v``).
    drifted
        The verdict; ``None`` when either window holds fewer than ``min_samples`` values.
    fired
        The tests that called it drift (``psi``, ``ks``, ``wasserstein``, ``chi2``).
    summary
        What a reader needs to see it: means and quantiles, or the largest category shares.
    """

    name: str
    kind: Kind
    group: str
    n_reference: int
    n_recent: int
    statistics: dict[str, float] = field(default_factory=dict)
    drifted: bool | None = None
    fired: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "group": self.group,
            "n_reference": self.n_reference,
            "n_recent": self.n_recent,
            "statistics": {k: _finite(v) for k, v in self.statistics.items()},
            "drifted": self.drifted,
            "fired": self.fired,
            "summary": self.summary,
        }


def _finite(value: float) -> float | None:
    return round(value, 6) if np.isfinite(value) else None


def _numeric_summary(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, float)
    q = np.quantile(array, [0.1, 0.5, 0.9])
    return {
        "mean": round(float(array.mean()), 6),
        **{f"p{p}": round(float(v), 6) for p, v in zip((10, 50, 90), q, strict=True)},
    }


def numeric_drift(
    name: str,
    group: str,
    reference: Sequence[float],
    recent: Sequence[float],
    thresholds: DriftThresholds,
) -> FeatureDrift:
    """Compare a numeric feature: drift when PSI >= ``psi`` (its bins' chi-square p-value <
    ``psi_p_value``), or on large samples when the
    normalised Wasserstein >= ``wasserstein``, or on smaller ones when the KS p-value <
    ``ks_p_value`` and D >= ``ks_statistic``."""
    result = FeatureDrift(name, "numeric", group, len(reference), len(recent))
    if min(len(reference), len(recent)) < thresholds.min_samples:
        return result
    ks = ks_test(reference, recent)
    ref, cur = binned(reference, recent, thresholds.bins)
    psi = _psi(ref / ref.sum(), cur / cur.sum(), EPSILON)
    bins_p = chi_square_counts(ref, cur).p_value
    wasserstein = wasserstein_normalised(reference, recent)
    result.statistics = {
        "psi": psi,
        "psi_p_value": bins_p,
        "ks_statistic": ks.statistic,
        "ks_p_value": ks.p_value,
        "wasserstein": wasserstein,
    }
    if psi >= thresholds.psi and bins_p < thresholds.psi_p_value:
        result.fired.append("psi")
    if min(len(reference), len(recent)) >= thresholds.large_sample:
        if wasserstein >= thresholds.wasserstein:
            result.fired.append("wasserstein")
    elif ks.p_value < thresholds.ks_p_value and ks.statistic >= thresholds.ks_statistic:
        result.fired.append("ks")
    result.drifted = bool(result.fired)
    result.summary = {"reference": _numeric_summary(reference), "recent": _numeric_summary(recent)}
    return result


def _shares(values: Sequence[str], top: int = 10) -> dict[str, float]:
    counts = Counter(values)
    return {name: round(n / len(values), 6) for name, n in counts.most_common(top)}


def categorical_drift(
    name: str,
    group: str,
    reference: Sequence[str],
    recent: Sequence[str],
    thresholds: DriftThresholds,
) -> FeatureDrift:
    """Compare a categorical feature: drift when PSI >= ``psi`` (the chi-square p-value <
    ``psi_p_value``), or when the chi-square p-value < ``chi2_p_value`` and Cramer's V >=
    ``cramers_v``."""
    result = FeatureDrift(name, "categorical", group, len(reference), len(recent))
    if min(len(reference), len(recent)) < thresholds.min_samples:
        return result
    psi = psi_categorical(reference, recent)
    chi2 = chi_square(reference, recent)
    result.statistics = {
        "psi": psi,
        "chi2": chi2.statistic,
        "chi2_p_value": chi2.p_value,
        "cramers_v": chi2.cramers_v,
    }
    if psi >= thresholds.psi and chi2.p_value < thresholds.psi_p_value:
        result.fired.append("psi")
    if chi2.p_value < thresholds.chi2_p_value and chi2.cramers_v >= thresholds.cramers_v:
        result.fired.append("chi2")
    result.drifted = bool(result.fired)
    result.summary = {"reference": _shares(reference), "recent": _shares(recent)}
    return result
