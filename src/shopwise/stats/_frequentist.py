"""Fixed-horizon frequentist tests of one treatment against its control: the two-proportion
z-test for rates, Welch's t-test for means, and a bootstrap interval for skewed means such as
revenue per visitor. Read them once, at the planned horizon; for daily reading use
:func:`shopwise.stats.msprt`. Differences are always treatment minus control."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from shopwise.stats._checks import (
    arm_size,
    conversions,
    open_unit,
    refuse,
    sample,
    seed_generator,
)


@dataclass(frozen=True, slots=True)
class ProportionTest:
    """A two-proportion z-test and the confidence intervals of its effect.

    Attributes
    ----------
    rate_control, rate_treatment
        Observed conversion rates.
    difference, ci_low, ci_high
        Treatment minus control rate, with its Wald (unpooled) interval.
    relative_lift, lift_ci_low, lift_ci_high
        ``rate_treatment / rate_control - 1`` with a log-ratio interval; ``None`` when either
        arm has no conversion (the ratio or its logarithm is undefined).
    z, p_value
        The pooled two-sided z-test of equal rates.
    """

    rate_control: float
    rate_treatment: float
    difference: float
    ci_low: float
    ci_high: float
    relative_lift: float | None
    lift_ci_low: float | None
    lift_ci_high: float | None
    z: float
    p_value: float
    alpha: float

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha


def two_proportion_ztest(
    conversions_control: int,
    n_control: int,
    conversions_treatment: int,
    n_treatment: int,
    *,
    alpha: float = 0.05,
) -> ProportionTest:
    """Test whether the treatment's conversion rate differs from the control's.

    Parameters
    ----------
    conversions_control, n_control
        Converted units and units exposed in the control arm.
    conversions_treatment, n_treatment
        The same for the treatment arm.
    alpha
        Two-sided significance level; the intervals have coverage ``1 - alpha``.

    Returns
    -------
    ProportionTest
        When both arms convert at 0 (or at 1) the rates cannot differ: ``z`` is 0 and the
        p-value 1.
    """
    nc, nt = arm_size("n_control", n_control), arm_size("n_treatment", n_treatment)
    cc = conversions("conversions_control", conversions_control, nc)
    ct = conversions("conversions_treatment", conversions_treatment, nt)
    alpha = open_unit("alpha", alpha)
    z, p_value = _pooled_z(ct, nt, cc, nc)
    low, high = confint_proportions_2indep(
        ct, nt, cc, nc, method="wald", compare="diff", alpha=alpha
    )
    lift, lift_low, lift_high = _lift(ct, nt, cc, nc, alpha)
    return ProportionTest(
        rate_control=cc / nc,
        rate_treatment=ct / nt,
        difference=ct / nt - cc / nc,
        ci_low=float(low),
        ci_high=float(high),
        relative_lift=lift,
        lift_ci_low=lift_low,
        lift_ci_high=lift_high,
        z=z,
        p_value=p_value,
        alpha=alpha,
    )


def _pooled_z(ct: int, nt: int, cc: int, nc: int) -> tuple[float, float]:
    pooled = (ct + cc) / (nt + nc)
    if pooled in (0.0, 1.0):
        return 0.0, 1.0
    z, p_value = proportions_ztest([ct, cc], [nt, nc])
    return float(z), float(p_value)


def _lift(
    ct: int, nt: int, cc: int, nc: int, alpha: float
) -> tuple[float | None, float | None, float | None]:
    if ct == 0 or cc == 0:
        return None, None, None
    low, high = confint_proportions_2indep(
        ct, nt, cc, nc, method="log", compare="ratio", alpha=alpha
    )
    return (ct / nt) / (cc / nc) - 1.0, float(low) - 1.0, float(high) - 1.0


@dataclass(frozen=True, slots=True)
class MeanTest:
    """Welch's unequal-variance t-test of two means, with the interval of their difference.

    Attributes
    ----------
    mean_control, mean_treatment
        Arm means.
    difference, ci_low, ci_high
        Treatment minus control mean, with its Welch interval at coverage ``1 - alpha``.
    relative_lift
        ``difference / mean_control``; ``None`` when the control mean is 0.
    t, df, p_value
        The two-sided Welch test (Welch-Satterthwaite degrees of freedom).
    """

    mean_control: float
    mean_treatment: float
    difference: float
    ci_low: float
    ci_high: float
    relative_lift: float | None
    t: float
    df: float
    p_value: float
    alpha: float

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha


def welch_ttest(control: ArrayLike, treatment: ArrayLike, *, alpha: float = 0.05) -> MeanTest:
    """Test whether the treatment's mean differs from the control's (Welch's t-test).

    Parameters
    ----------
    control, treatment
        Per-unit values of each arm (for example revenue per visitor, zeros included).
    alpha
        Two-sided significance level.

    Raises
    ------
    InvalidInput
        An arm is too small or holds a non-finite value, or both arms are constant (the test
        statistic is undefined).
    """
    c, t = sample("control", control), sample("treatment", treatment)
    alpha = open_unit("alpha", alpha)
    return _welch(c, t, alpha)


def _welch(c: NDArray[np.float64], t: NDArray[np.float64], alpha: float) -> MeanTest:
    if np.ptp(c) == 0.0 and np.ptp(t) == 0.0:
        raise refuse("treatment", "both arms are constant; the t statistic is undefined")
    result = stats.ttest_ind(t, c, equal_var=False)
    interval = result.confidence_interval(confidence_level=1.0 - alpha)
    mean_c, mean_t = float(c.mean()), float(t.mean())
    return MeanTest(
        mean_control=mean_c,
        mean_treatment=mean_t,
        difference=mean_t - mean_c,
        ci_low=float(interval.low),
        ci_high=float(interval.high),
        relative_lift=(mean_t - mean_c) / mean_c if mean_c != 0.0 else None,
        t=float(result.statistic),
        df=float(result.df),
        p_value=float(result.pvalue),
        alpha=alpha,
    )


@dataclass(frozen=True, slots=True)
class BootstrapInterval:
    """A bootstrap interval of the difference of two means (treatment minus control).

    Attributes
    ----------
    difference
        The observed difference of means.
    ci_low, ci_high
        The percentile interval at coverage ``confidence``.
    standard_error
        Standard deviation of the bootstrap distribution.
    n_resamples
        Resamples drawn (each arm resampled independently).
    """

    difference: float
    ci_low: float
    ci_high: float
    standard_error: float
    confidence: float
    n_resamples: int


def bootstrap_mean_difference(
    control: ArrayLike,
    treatment: ArrayLike,
    *,
    seed: int | np.random.Generator,
    confidence: float = 0.95,
    n_resamples: int = 2000,
) -> BootstrapInterval:
    """Bootstrap interval of the difference of means, for heavy-tailed metrics (revenue per
    visitor) where the t interval's normal approximation is doubtful.

    Parameters
    ----------
    control, treatment
        Per-unit values of each arm.
    seed
        Seed or generator: the same seed over the same data gives the same interval.
    confidence
        Coverage of the interval.
    n_resamples
        Bootstrap resamples; scipy evaluates them in vectorised batches.

    Notes
    -----
    Uses :func:`scipy.stats.bootstrap` with percentile limits. Its bias-corrected (BCa) limits
    need a jackknife over every unit, quadratic in the arm size, which an experiment of tens of
    thousands of visitors cannot afford; the percentile interval already follows the skew of
    the resampled differences that the t interval ignores.
    """
    c, t = sample("control", control), sample("treatment", treatment)
    confidence = open_unit("confidence", confidence)
    if n_resamples < 100:
        raise refuse("n_resamples", f"{n_resamples} resamples is too few (at least 100)")
    if np.ptp(c) == 0.0 and np.ptp(t) == 0.0:
        raise refuse("treatment", "both arms are constant; there is nothing to resample")
    result = stats.bootstrap(
        (t, c),
        _mean_difference,
        vectorized=True,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=seed_generator(seed),
    )
    return BootstrapInterval(
        difference=float(t.mean() - c.mean()),
        ci_low=float(result.confidence_interval.low),
        ci_high=float(result.confidence_interval.high),
        standard_error=float(result.standard_error),
        confidence=confidence,
        n_resamples=n_resamples,
    )


def _mean_difference(
    treatment: NDArray[np.float64], control: NDArray[np.float64], axis: int = -1
) -> NDArray[np.float64]:
    difference: NDArray[np.float64] = np.mean(treatment, axis=axis) - np.mean(control, axis=axis)
    return difference
