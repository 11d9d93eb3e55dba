"""The Bayesian engine: posteriors of each arm, the chance that the treatment beats its control
and the expected loss of shipping either arm (GrowthBook's decision quantities). Rates get a
Beta-Binomial model read by seeded Monte Carlo; means get a normal posterior under a flat prior,
where both quantities are exact in closed form."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from shopwise.stats._checks import (
    arm_size,
    conversions,
    open_unit,
    positive,
    refuse,
    sample,
    seed_generator,
)


@dataclass(frozen=True, slots=True)
class BayesResult:
    """Posterior comparison of a treatment against its control.

    Attributes
    ----------
    chance_to_beat_control
        Posterior probability that the treatment's true value exceeds the control's.
    expected_loss_treatment
        Posterior mean of ``max(0, control - treatment)``: what shipping the treatment costs,
        on the metric's scale, in the worlds where it is worse.
    expected_loss_control
        Posterior mean of ``max(0, treatment - control)``: the cost of keeping the control.
    difference, ci_low, ci_high
        Posterior mean of treatment minus control and its equal-tailed credible interval.
    """

    chance_to_beat_control: float
    expected_loss_treatment: float
    expected_loss_control: float
    difference: float
    ci_low: float
    ci_high: float
    credibility: float


def bayes_proportions(
    conversions_control: int,
    n_control: int,
    conversions_treatment: int,
    n_treatment: int,
    *,
    seed: int | np.random.Generator,
    prior_successes: float = 1.0,
    prior_failures: float = 1.0,
    draws: int = 200_000,
    credibility: float = 0.95,
) -> BayesResult:
    """Beta-Binomial comparison of two conversion rates.

    Parameters
    ----------
    conversions_control, n_control, conversions_treatment, n_treatment
        Converted and exposed units of each arm.
    seed
        Seed or generator of the Monte Carlo draws.
    prior_successes, prior_failures
        The Beta prior shared by both arms (the default is uniform).
    draws
        Posterior draws per arm; the Monte Carlo error of the chance to beat control is at most
        ``0.5 / sqrt(draws)``.
    credibility
        Mass of the credible interval of the difference.
    """
    nc, nt = arm_size("n_control", n_control), arm_size("n_treatment", n_treatment)
    cc = conversions("conversions_control", conversions_control, nc)
    ct = conversions("conversions_treatment", conversions_treatment, nt)
    a0, b0 = (
        positive("prior_successes", prior_successes),
        positive("prior_failures", prior_failures),
    )
    credibility = open_unit("credibility", credibility)
    if draws < 1000:
        raise refuse("draws", f"{draws} draws is too few (at least 1000)")
    rng = seed_generator(seed)
    control = rng.beta(a0 + cc, b0 + nc - cc, size=draws)
    treatment = rng.beta(a0 + ct, b0 + nt - ct, size=draws)
    delta = treatment - control
    tail = (1.0 - credibility) / 2.0
    low, high = np.quantile(delta, [tail, 1.0 - tail])
    return BayesResult(
        chance_to_beat_control=float(np.mean(delta > 0.0)),
        expected_loss_treatment=float(np.mean(np.maximum(-delta, 0.0))),
        expected_loss_control=float(np.mean(np.maximum(delta, 0.0))),
        difference=float(np.mean(delta)),
        ci_low=float(low),
        ci_high=float(high),
        credibility=credibility,
    )


def bayes_means(
    control: ArrayLike, treatment: ArrayLike, *, credibility: float = 0.95
) -> BayesResult:
    """Normal-posterior comparison of two means under a flat prior (exact, no sampling).

    Each arm's mean has posterior ``N(sample mean, sample variance / n)``, so the difference
    ``D`` is normal with mean ``d`` and standard deviation ``s``; then
    ``P(D > 0) = Phi(d / s)`` and ``E[max(0, -D)] = s phi(d / s) - d Phi(-d / s)``.

    Parameters
    ----------
    control, treatment
        Per-unit values of each arm.
    credibility
        Mass of the credible interval of the difference.
    """
    c, t = sample("control", control), sample("treatment", treatment)
    credibility = open_unit("credibility", credibility)
    d = float(t.mean() - c.mean())
    s = math.sqrt(float(t.var(ddof=1)) / t.size + float(c.var(ddof=1)) / c.size)
    if s == 0.0:
        raise refuse("treatment", "both arms are constant; the posterior is degenerate")
    posterior = stats.norm(loc=d, scale=s)
    low, high = posterior.interval(credibility)
    return BayesResult(
        chance_to_beat_control=float(posterior.sf(0.0)),
        expected_loss_treatment=_normal_shortfall(-d, s),
        expected_loss_control=_normal_shortfall(d, s),
        difference=d,
        ci_low=float(low),
        ci_high=float(high),
        credibility=credibility,
    )


def _normal_shortfall(mean: float, sd: float) -> float:
    """``E[max(0, X)]`` for ``X ~ N(mean, sd^2)``."""
    z = mean / sd
    return float(mean * stats.norm.cdf(z) + sd * stats.norm.pdf(z))
