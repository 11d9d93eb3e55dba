"""Checks across many comparisons at once: p-value adjustment across metrics and variants
(Holm for the family-wise error rate, Benjamini-Hochberg for the false discovery rate), and the
sample ratio mismatch (SRM) check that tells whether assignment itself is broken, in which case
no other result of the experiment should be trusted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats.multitest import multipletests

from shopwise.stats._checks import open_unit, positive, refuse

Correction = Literal["holm", "benjamini_hochberg"]
_STATSMODELS_METHOD: dict[Correction, str] = {"holm": "holm", "benjamini_hochberg": "fdr_bh"}

SRM_THRESHOLD = 0.001
"""p-value under which a sample ratio mismatch is flagged (GrowthBook's and Optimizely's
default): strict, because the check runs on every experiment and a false alarm stops one."""


@dataclass(frozen=True, slots=True)
class AdjustedPValues:
    """p-values adjusted for multiple comparisons, in the order given."""

    p_values: tuple[float, ...]
    reject: tuple[bool, ...]
    method: Correction
    alpha: float


def adjust_p_values(
    p_values: ArrayLike, *, method: Correction, alpha: float = 0.05
) -> AdjustedPValues:
    """Adjust the p-values of every (metric, variant) comparison of one experiment.

    Parameters
    ----------
    p_values
        Raw p-values, one per comparison.
    method
        ``"holm"`` controls the chance of any false positive (guardrail metrics);
        ``"benjamini_hochberg"`` the expected share of false discoveries (exploratory metrics).
    alpha
        Family-wise error rate (Holm) or false discovery rate (Benjamini-Hochberg).
    """
    raw = np.asarray(p_values, dtype=np.float64)
    if raw.ndim != 1 or raw.size == 0:
        raise refuse("p_values", "must be a non-empty one-dimensional sequence")
    if not np.all((raw >= 0.0) & (raw <= 1.0)):
        raise refuse("p_values", "every p-value must lie in 0..1")
    if method not in _STATSMODELS_METHOD:
        raise refuse("method", f"{method!r} is not one of {sorted(_STATSMODELS_METHOD)}")
    alpha = open_unit("alpha", alpha)
    reject, adjusted, _, _ = multipletests(raw, alpha=alpha, method=_STATSMODELS_METHOD[method])
    return AdjustedPValues(
        p_values=tuple(float(p) for p in adjusted),
        reject=tuple(bool(r) for r in reject),
        method=method,
        alpha=alpha,
    )


@dataclass(frozen=True, slots=True)
class SrmCheck:
    """Pearson's chi-square test of observed arm sizes against the planned split."""

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi_square: float
    p_value: float

    @property
    def mismatch(self) -> bool:
        """True when assignment looks broken (``p_value < SRM_THRESHOLD``)."""
        return self.p_value < SRM_THRESHOLD


def srm_check(counts: Sequence[int], weights: Sequence[float]) -> SrmCheck:
    """Check the units assigned to each arm against the planned traffic split.

    Parameters
    ----------
    counts
        Units assigned to each arm.
    weights
        Planned share of each arm, in the same order (normalised to sum to 1).
    """
    if len(counts) < 2 or len(counts) != len(weights):
        raise refuse("counts", "needs two or more arms and one weight per arm")
    if any(c < 0 for c in counts) or sum(counts) == 0:
        raise refuse("counts", "arm sizes must be non-negative and not all zero")
    shares = np.array([positive("weights", w) for w in weights], dtype=np.float64)
    observed = np.asarray(counts, dtype=np.float64)
    expected = observed.sum() * shares / shares.sum()
    result = stats.chisquare(observed, expected)
    return SrmCheck(
        observed=tuple(int(c) for c in counts),
        expected=tuple(float(e) for e in expected),
        chi_square=float(result.statistic),
        p_value=float(result.pvalue),
    )
