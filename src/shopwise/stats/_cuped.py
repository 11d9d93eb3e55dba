"""CUPED (Deng, Xu, Kohavi and Walker, WSDM 2013): variance reduction with pre-experiment
covariates, usually the same metric measured on the same units before assignment, and the units'
earlier behaviour. Because the covariates predate assignment they are independent of the
treatment, so subtracting their predictable part leaves the effect unbiased and the interval
narrower. With several covariates the coefficients are those of the least-squares regression of
the metric on them over both arms pooled (the paper's section 3.3, multiple covariates)."""

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
        One coefficient per covariate column: the slopes of the least-squares regression of
        ``Y`` on the covariates (with an intercept) over both arms pooled; with one covariate,
        ``cov(Y, X) / var(X)``. A constant column is left out of the fit and gets 0.
    used
        The indices of the covariate columns in the fit (those that vary).
    adjusted_mean_control, adjusted_mean_treatment
        Arm means of ``Y - (X - mean(X)) @ theta``.
    variance_reduction
        ``1 - var(adjusted) / var(Y)`` over both arms pooled: the share of variance removed
        (the regression's R squared; with one covariate, the squared correlation).
    test
        Welch's test on the adjusted values.
    """

    theta: tuple[float, ...]
    used: tuple[int, ...]
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
        The covariates per unit, measured before assignment: one value per unit (a 1-D
        sequence) or one row per unit and one column per covariate (units by covariates), in
        the metric's order; units without history carry 0.
    alpha
        Two-sided significance level.

    Raises
    ------
    InvalidInput
        The covariates do not pair with the units, the arms' covariates differ in number, or
        every covariate is constant (nothing is left to explain the metric).
    """
    y_c, y_t = sample("control", control), sample("treatment", treatment)
    x_c = _paired("control_covariate", control_covariate, y_c.size)
    x_t = _paired("treatment_covariate", treatment_covariate, y_t.size)
    if x_c.shape[1] != x_t.shape[1]:
        raise refuse(
            "treatment_covariate", f"has {x_t.shape[1]} covariates, the control {x_c.shape[1]}"
        )
    alpha = open_unit("alpha", alpha)
    y, x = np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t])
    used = np.flatnonzero(np.ptp(x, axis=0) > 0.0)
    if used.size == 0:
        raise refuse("control_covariate", "the covariate is constant; it explains nothing")
    centre = x[:, used].mean(axis=0)
    theta = np.zeros(x.shape[1])
    theta[used] = _slopes(y, x[:, used] - centre)
    adjusted_c = y_c - (x_c[:, used] - centre) @ theta[used]
    adjusted_t = y_t - (x_t[:, used] - centre) @ theta[used]
    variance_y = float(y.var(ddof=1))
    adjusted_var = float(np.concatenate([adjusted_c, adjusted_t]).var(ddof=1))
    return CupedResult(
        theta=tuple(float(t) for t in theta),
        used=tuple(int(i) for i in used),
        adjusted_mean_control=float(adjusted_c.mean()),
        adjusted_mean_treatment=float(adjusted_t.mean()),
        variance_reduction=1.0 - adjusted_var / variance_y if variance_y > 0.0 else 0.0,
        test=_welch(adjusted_c, adjusted_t, alpha),
    )


def _slopes(y: NDArray[np.float64], centred: NDArray[np.float64]) -> NDArray[np.float64]:
    """Least-squares slopes of ``y`` on the centred covariates (the intercept is then the mean
    of ``y``); collinear covariates get the minimum-norm solution, whose fit is the same."""
    slopes: NDArray[np.float64] = np.linalg.lstsq(centred, y - y.mean(), rcond=None)[0]
    return slopes


def _paired(field: str, values: ArrayLike, size: int) -> NDArray[np.float64]:
    """The covariates as a units-by-covariates float array with one row per unit."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim != 2 or array.shape[1] == 0:
        raise refuse(field, "must be one value per unit, or one row of covariates per unit")
    if not np.all(np.isfinite(array)):
        raise refuse(field, "holds a missing or infinite value")
    if array.shape[0] != size:
        raise refuse(field, f"has {array.shape[0]} values for {size} units")
    return array
