"""The Bayesian engine: posteriors of each arm, the chance that the treatment beats its control
and the expected loss of shipping either arm (GrowthBook's decision quantities). Rates get a
Beta-Binomial model read by seeded Monte Carlo; means get a normal posterior under a flat prior,
where both quantities are exact in closed form. :func:`bayes_arms` reads several arms' rates
together (a bandit's): each one's chance of being the best and its expected loss."""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    a0, b0, credibility = _beta_settings(prior_successes, prior_failures, credibility, draws)
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


@dataclass(frozen=True, slots=True)
class ArmPosterior:
    """One arm's Beta posterior among several (a bandit's arms).

    Attributes
    ----------
    mean, ci_low, ci_high
        Posterior mean of the arm's rate and its equal-tailed credible interval (exact).
    chance_best
        Posterior probability that the arm's rate is the highest of all arms.
    expected_loss
        Posterior mean of ``max(all rates) - this rate``: what choosing the arm costs, on the
        rate's scale, in the worlds where another arm is better.
    """

    mean: float
    ci_low: float
    ci_high: float
    chance_best: float
    expected_loss: float


def bayes_arms(
    successes: Sequence[int],
    trials: Sequence[int],
    *,
    seed: int | np.random.Generator,
    prior_successes: float = 1.0,
    prior_failures: float = 1.0,
    draws: int = 200_000,
    credibility: float = 0.95,
) -> list[ArmPosterior]:
    """Beta-Binomial posteriors of several arms' rates, read together by seeded Monte Carlo.

    Each arm's rate has posterior ``Beta(prior_successes + successes, prior_failures + trials -
    successes)``, the model of :func:`bayes_proportions`; unlike it, any arm size is accepted
    (an arm that served nothing keeps its prior), since the posterior of a bandit's arm is read
    whatever its traffic.

    Parameters
    ----------
    successes, trials
        Each arm's successes and trials, in the same order.
    seed
        Seed or generator of the Monte Carlo draws (the chance of being best, the loss).
    prior_successes, prior_failures
        The Beta prior shared by every arm (the default is uniform).
    draws
        Joint posterior draws; the Monte Carlo error of a chance of being best is at most
        ``0.5 / sqrt(draws)``.
    credibility
        Mass of each arm's credible interval.
    """
    if len(successes) != len(trials) or not trials:
        raise refuse("trials", "needs one count of trials per arm, and at least one arm")
    n = [int(t) for t in trials]
    if min(n) < 0:
        raise refuse("trials", "a count of trials is negative")
    wins = [conversions("successes", s, t) for s, t in zip(successes, n, strict=True)]
    a0, b0, credibility = _beta_settings(prior_successes, prior_failures, credibility, draws)
    won, tried = np.asarray(wins, dtype=np.float64), np.asarray(n, dtype=np.float64)
    a, b = a0 + won, b0 + tried - won
    rates = seed_generator(seed).beta(a, b, size=(draws, a.size))
    best = rates.max(axis=1)
    chance = np.bincount(rates.argmax(axis=1), minlength=a.size) / draws
    loss = (best[:, np.newaxis] - rates).mean(axis=0)
    low, high = stats.beta.interval(credibility, a, b)
    return [
        ArmPosterior(
            mean=float(a[i] / (a[i] + b[i])),
            ci_low=float(low[i]),
            ci_high=float(high[i]),
            chance_best=float(chance[i]),
            expected_loss=float(loss[i]),
        )
        for i in range(a.size)
    ]


def _beta_settings(
    prior_successes: float, prior_failures: float, credibility: float, draws: int
) -> tuple[float, float, float]:
    """The checked Beta prior and credibility of a Beta-Binomial read, and a check that the
    Monte Carlo has enough ``draws``."""
    if draws < 1000:
        raise refuse("draws", f"{draws} draws is too few (at least 1000)")
    return (
        positive("prior_successes", prior_successes),
        positive("prior_failures", prior_failures),
        open_unit("credibility", credibility),
    )
