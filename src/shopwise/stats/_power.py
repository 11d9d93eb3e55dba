"""Planning: how many units each arm needs to detect an effect, and how many days of traffic
that takes. An experiment shorter than two weeks sees each weekday once at most, so weekly
seasonality (and the novelty of the change) can pass for an effect; the plan says so."""

from __future__ import annotations

import math
from dataclasses import dataclass

from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from shopwise.stats._checks import open_unit, positive, refuse

MIN_DURATION_DAYS = 14
"""Shortest run that covers every weekday twice."""


@dataclass(frozen=True, slots=True)
class SamplePlan:
    """Units and days an experiment needs.

    Attributes
    ----------
    effect_size
        Standardised effect (Cohen's h for rates, Cohen's d for means).
    units_per_arm, total_units
        Units needed in each arm and over all arms (equal split).
    days
        Days of ``daily_units`` traffic needed to reach ``total_units``.
    warning
        Why the plan is risky (a run under two weeks), or ``None``.
    """

    effect_size: float
    units_per_arm: int
    total_units: int
    days: int
    alpha: float
    power: float
    warning: str | None


def sample_size_proportions(
    baseline_rate: float,
    minimum_detectable_effect: float,
    *,
    daily_units: float,
    alpha: float = 0.05,
    power: float = 0.8,
    arms: int = 2,
) -> SamplePlan:
    """Plan a conversion-rate experiment (two-sided test, equal split).

    Parameters
    ----------
    baseline_rate
        The control's expected conversion rate.
    minimum_detectable_effect
        Smallest absolute change of the rate worth detecting (0.01 is one percentage point;
        negative for a decrease).
    daily_units
        Units entering the experiment each day, over all arms.
    alpha, power
        Two-sided significance level and the chance of detecting the effect.
    arms
        Number of arms, control included.
    """
    baseline = open_unit("baseline_rate", baseline_rate)
    target = baseline + minimum_detectable_effect
    if minimum_detectable_effect == 0.0 or not 0.0 < target < 1.0:
        raise refuse(
            "minimum_detectable_effect",
            f"must be non-zero and keep the rate strictly between 0 and 1 (got {target})",
        )
    effect = abs(float(proportion_effectsize(target, baseline)))
    return _plan(effect, daily_units, alpha, power, arms)


def sample_size_means(
    standard_deviation: float,
    minimum_detectable_effect: float,
    *,
    daily_units: float,
    alpha: float = 0.05,
    power: float = 0.8,
    arms: int = 2,
) -> SamplePlan:
    """Plan an experiment on a mean (revenue per visitor, items per order).

    Parameters
    ----------
    standard_deviation
        Per-unit standard deviation of the metric (from history).
    minimum_detectable_effect
        Smallest absolute change of the mean worth detecting, in the metric's units.
    daily_units, alpha, power, arms
        As for :func:`sample_size_proportions`.
    """
    sd = positive("standard_deviation", standard_deviation)
    if minimum_detectable_effect == 0.0 or not math.isfinite(minimum_detectable_effect):
        raise refuse("minimum_detectable_effect", "must be a finite non-zero number")
    return _plan(abs(minimum_detectable_effect) / sd, daily_units, alpha, power, arms)


def _plan(effect: float, daily_units: float, alpha: float, power: float, arms: int) -> SamplePlan:
    alpha, power = open_unit("alpha", alpha), open_unit("power", power)
    daily = positive("daily_units", daily_units)
    if arms < 2:
        raise refuse("arms", f"{arms} arms cannot be compared (at least 2)")
    n = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0)
    per_arm = math.ceil(float(n))
    total = per_arm * arms
    days = math.ceil(total / daily)
    return SamplePlan(
        effect_size=effect,
        units_per_arm=per_arm,
        total_units=total,
        days=days,
        alpha=alpha,
        power=power,
        warning=_duration_warning(days),
    )


def _duration_warning(days: int) -> str | None:
    if days >= MIN_DURATION_DAYS:
        return None
    return (
        f"the plan needs {days} days, under {MIN_DURATION_DAYS}: run it for at least"
        f" {MIN_DURATION_DAYS} days so that each weekday is seen twice"
    )
