"""Sequential testing that may be read every day: the mixture sequential probability ratio test
(mSPRT) of Johari, Koomen, Pekelis and Walsh, "Always Valid Inference" (Operations Research,
2022), the engine behind Optimizely's Stats Engine.

Each look gives an estimate of the difference (treatment minus control) with its variance, under
the normal approximation. Against the null of no difference, the mixture of alternatives
``theta ~ N(0, tau^2)`` gives the likelihood ratio

    Lambda = N(estimate; 0, variance + tau^2) / N(estimate; 0, variance)

and ``p = min(1, 1 / max Lambda over looks so far)`` is an always-valid p-value: however often
the experiment is read, stopping at the first ``p < alpha`` keeps the false positive rate at or
under ``alpha``. The matching confidence sequence is

    estimate +/- sqrt(variance (variance + tau^2) / tau^2 * (log((variance + tau^2) / variance)
                      - 2 log alpha))

intersected across looks. ``tau^2`` (``mixture_variance``) is in squared units of the
difference; the test is most powerful for effects near ``tau``, so set it to the square of the
smallest effect worth detecting (the minimum detectable effect of the plan), or, when no such
effect is planned, with :func:`tuned_mixture_variance`: the ``tau^2`` whose boundary is tightest
after a chosen number of units, whatever the metric's scale (Howard, Ramdas, McAuliffe and
Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences", Annals of Statistics
2021; GrowthBook's sequential tuning parameter is the same rule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from shopwise.stats._checks import arm_size, conversions, open_unit, positive, refuse, sample


@dataclass(frozen=True, slots=True)
class Difference:
    """One look's estimate of treatment minus control and its variance (normal approximation)."""

    estimate: float
    variance: float


def difference_of_proportions(
    conversions_control: int, n_control: int, conversions_treatment: int, n_treatment: int
) -> Difference:
    """The difference of two conversion rates with its unpooled variance
    ``p_t (1 - p_t) / n_t + p_c (1 - p_c) / n_c``."""
    nc, nt = arm_size("n_control", n_control), arm_size("n_treatment", n_treatment)
    pc = conversions("conversions_control", conversions_control, nc) / nc
    pt = conversions("conversions_treatment", conversions_treatment, nt) / nt
    return Difference(pt - pc, pt * (1.0 - pt) / nt + pc * (1.0 - pc) / nc)


def difference_of_means(control: ArrayLike, treatment: ArrayLike) -> Difference:
    """The difference of two means with its Welch variance ``s_t^2 / n_t + s_c^2 / n_c``."""
    c, t = sample("control", control), sample("treatment", treatment)
    variance = float(t.var(ddof=1)) / t.size + float(c.var(ddof=1)) / c.size
    return Difference(float(t.mean() - c.mean()), variance)


@dataclass(frozen=True, slots=True)
class SequentialResult:
    """The mSPRT read after each look.

    Attributes
    ----------
    p_values
        Always-valid p-value after each look (non-increasing).
    ci_low, ci_high
        Confidence sequence of the difference after each look (nested). It can only become
        empty (``ci_low > ci_high``) after a rejection, when the looks disagree beyond chance.
    first_rejection
        Index of the first look with ``p < alpha``, or ``None``.
    """

    p_values: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    mixture_variance: float
    alpha: float
    first_rejection: int | None

    @property
    def p_value(self) -> float:
        """The always-valid p-value now (after the last look)."""
        return self.p_values[-1]

    @property
    def significant(self) -> bool:
        return self.first_rejection is not None


def msprt(
    looks: Sequence[Difference], *, mixture_variance: float, alpha: float = 0.05
) -> SequentialResult:
    """Always-valid p-values and confidence sequence over cumulative looks at one experiment.

    Parameters
    ----------
    looks
        The cumulative difference at each look, oldest first (for a daily read, day 1..today;
        each built by :func:`difference_of_proportions` or :func:`difference_of_means`).
    mixture_variance
        ``tau^2`` of the mixing distribution, in squared units of the difference (see the
        module's docstring for how to choose it).
    alpha
        Significance level of the rejections and of the confidence sequence.
    """
    if not looks:
        raise refuse("looks", "needs at least one look")
    tau2 = positive("mixture_variance", mixture_variance)
    alpha = open_unit("alpha", alpha)
    estimates = np.array([look.estimate for look in looks], dtype=np.float64)
    variances = np.array([look.variance for look in looks], dtype=np.float64)
    if not np.all(np.isfinite(estimates)) or not np.all(variances > 0.0):
        raise refuse("looks", "every look needs a finite estimate and a variance above zero")
    p_values = _always_valid_p_values(estimates, variances, tau2)
    half = _half_width(variances, tau2, alpha)
    low = np.maximum.accumulate(estimates - half)
    high = np.minimum.accumulate(estimates + half)
    rejected = np.flatnonzero(p_values < alpha)
    return SequentialResult(
        p_values=tuple(float(p) for p in p_values),
        ci_low=tuple(float(x) for x in low),
        ci_high=tuple(float(x) for x in high),
        mixture_variance=tau2,
        alpha=alpha,
        first_rejection=int(rejected[0]) if rejected.size else None,
    )


def tuned_mixture_variance(
    difference_variance: float, units: int, tuning_units: float, alpha: float = 0.05
) -> float:
    """The mixture variance ``tau^2`` that makes the mSPRT most sensitive after about
    ``tuning_units`` units.

    ``tau^2 = rho^2 * s^2`` with ``rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / tuning_units``
    and ``s^2`` the per-unit variance of the difference, ``difference_variance * units``: the
    mixture then scales with the metric's own spread, so a noisy metric (revenue) is tested as
    fairly as a rate.

    Parameters
    ----------
    difference_variance
        The variance of the difference estimate at a look (:attr:`Difference.variance`).
    units
        The units (both arms) that look was read on.
    tuning_units
        The number of units (both arms) at which the test should be most sensitive.
    alpha
        Significance level.
    """
    variance = positive("difference_variance", difference_variance)
    size = positive("units", units)
    tuning = positive("tuning_units", tuning_units)
    alpha = open_unit("alpha", alpha)
    log_term = -2.0 * math.log(alpha)
    rho2 = (log_term + math.log(log_term + 1.0)) / tuning
    return rho2 * variance * size


def _always_valid_p_values(
    estimates: NDArray[np.float64], variances: NDArray[np.float64], mixture_variance: float
) -> NDArray[np.float64]:
    """The mSPRT p-values along the last axis (looks); inputs checked by :func:`msprt`."""
    log_ratio = stats.norm.logpdf(
        estimates, scale=np.sqrt(variances + mixture_variance)
    ) - stats.norm.logpdf(estimates, scale=np.sqrt(variances))
    running = np.maximum.accumulate(log_ratio, axis=-1)
    p_values: NDArray[np.float64] = np.minimum(1.0, np.exp(-running))
    return p_values


def _half_width(variances: NDArray[np.float64], tau2: float, alpha: float) -> NDArray[np.float64]:
    spread = variances * (variances + tau2) / tau2
    width: NDArray[np.float64] = np.sqrt(
        spread * (np.log((variances + tau2) / variances) - 2.0 * math.log(alpha))
    )
    return width
