"""CUPED (Deng, Xu, Kohavi and Walker, WSDM 2013): variance reduction with a pre-experiment
covariate, usually the same metric measured on the same units before assignment. Because the
covariate predates assignment it is independent of the treatment, so subtracting its predictable
part leaves the effect unbiased and the interval narrower."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from shopwise.stats._checks import open_unit, refuse, sample
from shopwise.stats._frequentist import MeanTest, _welch


@dataclass(frozen=True, slots=True)
class CupedResult:
    """A Welch test on CUPED-adjusted values.

    Attributes
    ----------
    theta
        ``cov(Y, X) / var(X)`` over both arms pooled.
    adjusted_mean_control, adjusted_mean_treatment
        Arm means of ``Y - theta (X - mean(X))``.
    variance_reduction
        ``1 - var(adjusted) / var(Y)`` over both arms pooled: the share of variance removed
        (the squared correlation of ``Y`` and ``X``).
    test
        Welch's test on the adjusted values.
    """

    theta: float
    adjusted_mean_control: float
    adjusted_mean_treatment: float
    variance_reduction: float
    test: MeanTest


def cuped(
    control: ArrayLike,
    treatment: ArrayLike,
    control_covariate: ArrayLike,
    treatment_covariate: ArrayLike,
    *,
    alpha: float = 0.05,
) -> CupedResult:
    """Welch's test of the difference of means after CUPED adjustment.

    Parameters
    ----------
    control, treatment
        The metric per unit during the experiment.
    control_covariate, treatment_covariate
        The covariate per unit (same order and length as the metric), measured before
        assignment; units without history carry 0.
    alpha
        Two-sided significance level.
    """
    y_c, y_t = sample("control", control), sample("treatment", treatment)
    x_c = _paired("control_covariate", control_covariate, y_c.size)
    x_t = _paired("treatment_covariate", treatment_covariate, y_t.size)
    alpha = open_unit("alpha", alpha)
    y, x = np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t])
    if np.ptp(x) == 0.0:
        raise refuse("control_covariate", "the covariate is constant; it explains nothing")
    covariance = np.cov(y, x, ddof=1)
    theta = float(covariance[0, 1] / covariance[1, 1])
    centre = float(x.mean())
    adjusted_c, adjusted_t = y_c - theta * (x_c - centre), y_t - theta * (x_t - centre)
    variance_y = float(covariance[0, 0])
    adjusted_var = float(np.concatenate([adjusted_c, adjusted_t]).var(ddof=1))
    return CupedResult(
        theta=theta,
        adjusted_mean_control=float(adjusted_c.mean()),
        adjusted_mean_treatment=float(adjusted_t.mean()),
        variance_reduction=1.0 - adjusted_var / variance_y if variance_y > 0.0 else 0.0,
        test=_welch(adjusted_c, adjusted_t, alpha),
    )


def _paired(field: str, values: ArrayLike, size: int) -> NDArray[np.float64]:
    array = sample(field, values)
    if array.size != size:
        raise refuse(field, f"has {array.size} values for {size} units")
    return array
