"""Reading an experiment: each unit's attributed outcomes, then every variant against the control.

A unit is a canonical profile with at least one exposure of the experiment (a
``recommendation_viewed`` event whose properties carry ``experiment``; its ``variant`` names the
arm). Its impressions, clicks, adds, orders and revenue come from the answers it was served in
the experiment's range, attributed by the rules of :mod:`shopwise.kpis` for consenting shoppers
only (:func:`shopwise.kpis.read_unit_totals`). Per unit, the metrics are:

- ``click_rate``, ``add_to_cart_rate``, ``conversion_rate``: whether the unit clicked, added to
  cart, or placed an attributed order (proportions of units);
- ``ctr``: the unit's clicks per impression, and ``revenue_per_visitor``: its attributed revenue
  (means over units).

The statistics all come from :mod:`shopwise.stats`, in the order an analyst reads them: the sample
ratio check first (a mismatch voids everything else), then, per variant and metric, the fixed
horizon test (z-test or Welch, with a bootstrap interval for means), the Bayesian comparison and
CUPED; Holm across the guardrail comparisons; and the mSPRT over cumulative looks of the
primary metric (daily by default; ``look_ms`` sets another interval, as a compressed simulated run
needs), whose always-valid p-value is the decision the report leads with.

CUPED's covariates are each unit's behaviour in the pre-period (the days before the start): the
same metric over the answers it was served then, and its product views, adds to cart, orders and
order revenue from the consented events whether an answer led to them or not
(:func:`shopwise.kpis.read_unit_behaviour`), so a shop whose history holds no served answers still
has covariates. The regression on them is fitted on both arms pooled.

A bandit (``kind: bandit``) splits its traffic by what it has learnt, so the fixed-horizon tests,
Holm and the mSPRT, which assume a planned split, are not run: its results are each arm's
posterior instead (:func:`~shopwise.experiments._bandit.read_bandit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from dataclasses import replace as _replace
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from shopwise.errors import Conflict, InvalidInput
from shopwise.experiments._bandit import BanditResults, read_bandit
from shopwise.experiments._model import METRICS, PROPORTIONS, Experiment
from shopwise.kpis import (
    BEHAVIOUR,
    DAY_MS,
    Behaviour,
    Exposure,
    Totals,
    read_unit_behaviour,
    read_unit_totals,
)
from shopwise.privacy import ConsentPolicy
from shopwise.stats import (
    MIN_UNITS_PER_ARM,
    Difference,
    adjust_p_values,
    bayes_means,
    bayes_proportions,
    bootstrap_mean_difference,
    cuped,
    difference_of_means,
    difference_of_proportions,
    msprt,
    srm_check,
    tuned_mixture_variance,
    two_proportion_ztest,
    welch_ttest,
)

MAX_LOOKS: Final = 1000
"""The most sequential looks a report takes (each holds a result per variant in memory)."""
TUNING_UNITS: Final = 5000
"""Units (all arms) at which the sequential test is most sensitive by default (GrowthBook's
default sequential tuning parameter)."""
PRE_PERIOD_DAYS: Final = 14
"""Days before the start whose answers and behaviour give each unit's CUPED covariates."""
COUNTS: Final = ("impressions", "clicks", "adds", "orders", "revenue")
COVARIATES: Final = ("same_metric", *(f"pre_{name}" for name in BEHAVIOUR))
"""CUPED's covariates, in column order: the metric over the pre-period's answers, then the
pre-period's product views, adds to cart, orders and order revenue."""

Matrix = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Arm:
    """One variant's units and their totals; ``units`` excludes nobody seen in the variant."""

    name: str
    units: int
    impressions: int
    clicks: int
    adds: int
    orders: int
    revenue: float
    metrics: dict[str, float | None]
    """Each metric's mean over the arm's units (``None`` where no unit has it)."""


@dataclass(frozen=True, slots=True)
class Cuped:
    """Welch's test of the metric after CUPED adjustment, the variance it removed, and the
    covariates that took part (those of :data:`COVARIATES` that vary over the units)."""

    variance_reduction: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    covariates: list[str]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One metric of one variant against the control (differences are treatment minus control).

    ``p_value`` is the fixed-horizon test's (z-test for proportions, Welch for means);
    ``p_value_adjusted`` is Holm's across the guardrail comparisons (``None`` for a metric that
    is not a guardrail); ``bootstrap_low``/``bootstrap_high`` bound the difference of a mean;
    ``error`` says why a comparison could not be made (then the numbers are absent).
    """

    metric: str
    control: float | None
    treatment: float | None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    relative_lift: float | None = None
    p_value: float | None = None
    p_value_adjusted: float | None = None
    bootstrap_low: float | None = None
    bootstrap_high: float | None = None
    chance_to_beat_control: float | None = None
    expected_loss_treatment: float | None = None
    expected_loss_control: float | None = None
    cuped: Cuped | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Look:
    """The primary metric's cumulative difference after one look interval, with its always-valid
    read; ``day`` is the look's index (the day, at the default daily interval)."""

    day: int
    at: str
    units_control: int
    units_treatment: int
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float


@dataclass(frozen=True, slots=True)
class Sequential:
    """The mSPRT over the looks; ``p_value_adjusted`` is Holm's across the variants."""

    metric: str
    mixture_variance: float
    looks: list[Look]
    p_value: float
    p_value_adjusted: float
    first_rejection_day: int | None


@dataclass(frozen=True, slots=True)
class VariantResult:
    """A variant against the control: the decision, the daily read and every metric."""

    variant: str
    decision: str
    sequential: Sequential | None
    """The primary metric's mSPRT: the decision."""
    comparisons: list[Comparison]
    guardrail_sequentials: list[Sequential]
    """Each guardrail's mSPRT (those with a readable look), Holm-adjusted across the guardrails
    and variants, so a guardrail may be watched as often as the primary metric."""


@dataclass(frozen=True, slots=True)
class Srm:
    """The sample ratio check: observed and expected units per arm."""

    observed: dict[str, int]
    expected: dict[str, float]
    p_value: float
    mismatch: bool


@dataclass(frozen=True, slots=True)
class ExperimentResults:
    """Everything :func:`experiment_results` found, ready for :meth:`to_dict` (JSON)."""

    experiment: str
    start: str
    end: str
    control: str
    primary: str
    guardrails: list[str]
    alpha: float
    decision: str
    srm: Srm | None
    arms: list[Arm]
    variants: list[VariantResult]
    crossovers: int
    """Units seen in more than one variant; each is counted in its first."""
    look_ms: int = DAY_MS
    """Interval between the sequential test's looks."""
    bandit: BanditResults | None = None
    """A bandit's posterior read, which replaces ``variants`` (empty then) and decides."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _ArmData:
    """Per-unit daily counts of one arm (units by days), the units' pre-period totals over
    their answers, and their pre-period behaviour (units by :data:`~shopwise.kpis.BEHAVIOUR`)."""

    name: str
    daily: dict[str, Matrix]
    pre: dict[str, Matrix]
    behaviour: Matrix

    @property
    def units(self) -> int:
        return int(self.daily["impressions"].shape[0])

    def final(self, metric: str) -> Matrix:
        """The metric of each unit it is defined for."""
        totals = self._totals()
        return metric_values(metric, totals)[members(metric, totals)]

    def covariates(self, metric: str) -> Matrix:
        """The pre-period covariates (:data:`COVARIATES`) of the units of :meth:`final`, in the
        same order: one row per unit."""
        same = metric_values(metric, self.pre)[:, np.newaxis]
        both: Matrix = np.hstack([same, self.behaviour])
        return both[members(metric, self._totals())]

    def _totals(self) -> dict[str, Matrix]:
        return {name: counts.sum(axis=1) for name, counts in self.daily.items()}


def members(metric: str, totals: dict[str, Matrix]) -> NDArray[np.bool_]:
    """The units ``metric`` is defined for: those with an answer, and for
    ``average_order_value`` those with an attributed order."""
    counts = totals["orders"] if metric == "average_order_value" else totals["impressions"]
    found: NDArray[np.bool_] = counts > 0
    return found


def metric_values(metric: str, totals: dict[str, Matrix]) -> Matrix:
    """Each unit's ``metric`` from its ``totals`` arrays (any shape, element by element)."""
    if metric == "click_rate":
        return (totals["clicks"] > 0).astype(np.float64)
    if metric == "add_to_cart_rate":
        return (totals["adds"] > 0).astype(np.float64)
    if metric == "conversion_rate":
        return (totals["orders"] > 0).astype(np.float64)
    if metric == "ctr":
        impressions = totals["impressions"]
        ratio: Matrix = np.divide(
            totals["clicks"], impressions, out=np.zeros_like(impressions), where=impressions > 0
        )
        return ratio
    if metric == "revenue_per_visitor":
        return totals["revenue"].astype(np.float64)
    if metric == "average_order_value":
        orders = totals["orders"]
        value: Matrix = np.divide(
            totals["revenue"], orders, out=np.zeros_like(orders), where=orders > 0
        )
        return value
    raise _invalid("metric", f"{metric!r} is not one of {list(METRICS)}")


def experiment_results(
    engine: sa.Engine,
    experiment_id: str,
    variants: Sequence[str],
    control: str,
    start_ms: int,
    end_ms: int,
    primary: str,
    guardrails: Sequence[str] = (),
    *,
    policy: ConsentPolicy,
    weights: Sequence[float] | None = None,
    check_split: bool = True,
    window_hours: int = 24,
    alpha: float = 0.05,
    tuning_units: int = TUNING_UNITS,
    seed: int = 0,
    look_ms: int = DAY_MS,
    bandit: BanditResults | None = None,
) -> ExperimentResults:
    """Read an experiment from the event log (see the module docstring).

    Parameters
    ----------
    engine, policy
        The store, and the consent modes (analytics consent decides who counts).
    experiment_id, variants, control
        The experiment, its arms (the holdout too, if it has one) and which arm is the control.
    start_ms, end_ms
        The range of the exposures read (the experiment's start, and its stop or now).
    primary, guardrails
        The metric the decision is about, and the metrics that must not get worse.
    weights
        Planned share of each variant, in ``variants`` order (equal when absent); the SRM check
        compares the observed units with it.
    check_split
        Whether to run the SRM check (not for a bandit, whose split follows its learning).
    window_hours
        The attribution window.
    alpha
        Significance level of every test, interval and of Holm's family.
    tuning_units
        Units (all arms) at which the mSPRT is most sensitive: its mixture variance comes from
        each metric's own spread at the latest look
        (:func:`~shopwise.stats.tuned_mixture_variance`).
    seed
        Seed of the bootstrap and Bayesian draws (the same data and seed give the same result).
    look_ms
        Interval between the sequential test's cumulative looks (a day by default).
    bandit
        A bandit's posterior read (:func:`~shopwise.experiments._bandit.read_bandit`): when
        given, the per-variant tests and the sequential test are not run (a split that follows
        the learning voids them) and the bandit's read decides.
    """
    _check(variants, control, primary, guardrails, weights, start_ms, end_ms)
    if look_ms < 1:
        raise _invalid("look_ms", "the look interval must be positive")
    if _looks(start_ms, end_ms, look_ms) > MAX_LOOKS:
        shortest = -(-(end_ms - start_ms) // MAX_LOOKS)
        raise _invalid(
            "look_ms", f"gives more than {MAX_LOOKS} looks over this span; use at least {shortest}"
        )
    span = (start_ms, end_ms, look_ms)
    arms, crossovers = _load(
        engine, policy, experiment_id, variants, span, window_hours, pre_period=bandit is None
    )
    srm = _srm(arms, weights) if check_split else None
    if bandit is None:
        results = _variants(
            arms, control, [primary, *guardrails], span, srm, alpha, (tuning_units, seed)
        )
        decision = _overall(srm, results)
    else:
        results, decision = [], bandit.decision
    return ExperimentResults(
        experiment=experiment_id,
        start=_iso(start_ms),
        end=_iso(end_ms),
        control=control,
        primary=primary,
        guardrails=list(guardrails),
        alpha=alpha,
        decision=decision,
        srm=srm,
        arms=[_summary(arm) for arm in arms],
        variants=results,
        crossovers=crossovers,
        look_ms=look_ms,
        bandit=bandit,
    )


def _variants(
    arms: list[_ArmData],
    control: str,
    metrics: list[str],
    span: tuple[int, int, int],
    srm: Srm | None,
    alpha: float,
    tuning: tuple[int, int],
) -> list[VariantResult]:
    """Every variant against the control: ``metrics`` are the primary then the guardrails;
    ``tuning`` is (tuning units, seed)."""
    tuning_units, seed = tuning
    rng = np.random.default_rng(seed)
    control_arm = next(arm for arm in arms if arm.name == control)
    treated = [arm for arm in arms if arm.name != control]
    comparisons = [_compare_all(control_arm, arm, metrics, alpha, rng) for arm in treated]
    comparisons = _holm(comparisons, metrics[1:], alpha)
    tuned = (span, alpha, tuning_units)
    sequentials = [row[0] for row in _sequentials(control_arm, treated, metrics[:1], *tuned)]
    guarded = [
        [seq for seq in row if seq is not None]
        for row in _sequentials(control_arm, treated, metrics[1:], *tuned)
    ]
    return [
        VariantResult(arm.name, _decision(srm, seq, alpha), seq, found, guards)
        for arm, seq, found, guards in zip(treated, sequentials, comparisons, guarded, strict=True)
    ]


def results_of(
    engine: sa.Engine,
    experiment: Experiment,
    *,
    policy: ConsentPolicy,
    now_ms: int,
    window_hours: int = 24,
    seed: int = 0,
    look_ms: int = DAY_MS,
) -> ExperimentResults:
    """:func:`experiment_results` of a stored experiment, from its start to its stop (or now),
    looked at every ``look_ms`` (a day by default).

    The holdout, when the experiment has one, is read as one more variant. A bandit's arms are
    drawn per request, not split by planned weights, so its split is not checked, and it is read
    by its arms' posteriors (``seed`` seeds their draws too) instead of the tests; nor is the
    split of an experiment whose weights changed while it ran checked (its units keep their
    variant).

    Raises
    ------
    Conflict
        The experiment has not started.
    """
    if experiment.started_at is None:
        raise Conflict(f"experiment {experiment.id!r} has not started; it has no results yet")
    shares = experiment.shares()
    names, weights = list(shares), list(shares.values())
    # a bandit's split follows its learning; after a weight change the units assigned before
    # keep their variant, so the split no longer follows the weights either
    check_split = experiment.kind != "bandit" and experiment.weights_changed_at is None
    end = max(experiment.stopped_at or now_ms, experiment.started_at + 1)
    bandit = (
        read_bandit(engine, policy, experiment, end_ms=end, window_hours=window_hours, seed=seed)
        if experiment.kind == "bandit"
        else None
    )
    return experiment_results(
        engine,
        experiment.id,
        names,
        names[0],
        experiment.started_at,
        end,
        experiment.primary_metric,
        experiment.guardrails,
        policy=policy,
        weights=weights if check_split else None,
        check_split=check_split,
        window_hours=window_hours,
        seed=seed,
        look_ms=look_ms,
        bandit=bandit,
    )


def _check(
    variants: Sequence[str],
    control: str,
    primary: str,
    guardrails: Sequence[str],
    weights: Sequence[float] | None,
    start_ms: int,
    end_ms: int,
) -> None:
    if len(set(variants)) < 2 or len(set(variants)) != len(variants):
        raise _invalid("variants", "needs two or more distinct variants")
    if control not in variants:
        raise _invalid("control", f"{control!r} is not one of the variants")
    for field, metric in [("primary", primary)] + [("guardrails", g) for g in guardrails]:
        if metric not in METRICS:
            raise _invalid(field, f"{metric!r} is not one of {list(METRICS)}")
    if weights is not None and len(weights) != len(variants):
        raise _invalid("weights", "needs one weight per variant")
    if end_ms <= start_ms:
        raise _invalid("end", "the end must come after the start")


def _load(
    engine: sa.Engine,
    policy: ConsentPolicy,
    experiment_id: str,
    variants: Sequence[str],
    span: tuple[int, int, int],
    window_hours: int,
    *,
    pre_period: bool = True,
) -> tuple[list[_ArmData], int]:
    """Each arm's per-unit counts per look interval and pre-period totals and behaviour (zero
    without ``pre_period``), and the crossover count; ``span`` is (start, end, look interval)
    in ms."""
    start_ms, end_ms, look_ms = span
    known = set(variants)

    def unit_day(exposure: Exposure) -> tuple[str, str, int] | None:
        if exposure.experiment != experiment_id or exposure.dims.variant not in known:
            return None
        return exposure.profile, exposure.dims.variant, (exposure.served_at - start_ms) // look_ms

    found = read_unit_totals(engine, policy, start_ms, end_ms, unit_day, window_hours=window_hours)
    first: dict[str, tuple[int, str]] = {}
    for profile, variant, day in found:
        first[profile] = min(first.get(profile, (day, variant)), (day, variant))
    crossovers = len({p for p, v, _d in found if first[p][1] != v})
    pre, behaviour = (
        _pre_period(engine, policy, start_ms, set(first), window_hours) if pre_period else ({}, {})
    )
    days = _looks(start_ms, end_ms, look_ms)
    arms = []
    for name in variants:
        units = sorted(p for p, (_d, v) in first.items() if v == name)
        index = {p: i for i, p in enumerate(units)}
        daily = {c: np.zeros((len(units), days)) for c in COUNTS}
        for (profile, variant, day), totals in found.items():
            if variant == name and profile in index:
                _put(daily, totals, (index[profile], day))
        before = {c: np.zeros(len(units)) for c in COUNTS}
        did = np.zeros((len(units), len(BEHAVIOUR)))
        for profile, i in index.items():
            if profile in pre:
                _put(before, pre[profile], (i,))
            if profile in behaviour:
                did[i] = behaviour[profile].row()
        arms.append(_ArmData(name, daily, before, did))
    return arms, crossovers


def _pre_period(
    engine: sa.Engine, policy: ConsentPolicy, start_ms: int, units: set[str], window_hours: int
) -> tuple[dict[str, Totals], dict[str, Behaviour]]:
    """The units' attributed totals over the answers served in the pre-period, and their
    behaviour then (one read of the log each)."""
    begin = start_ms - PRE_PERIOD_DAYS * DAY_MS
    answers = read_unit_totals(
        engine,
        policy,
        begin,
        start_ms,
        lambda exposure: exposure.profile if exposure.profile in units else None,
        window_hours=window_hours,
    )
    return answers, read_unit_behaviour(engine, policy, begin, start_ms, units)


def _put(arrays: dict[str, Matrix], totals: Totals, at: tuple[int, ...]) -> None:
    for name in COUNTS:
        arrays[name][at] = getattr(totals, name)


def _looks(start_ms: int, end_ms: int, look_ms: int) -> int:
    return -(-(end_ms - start_ms) // look_ms)


def _srm(arms: Sequence[_ArmData], weights: Sequence[float] | None) -> Srm | None:
    counts = [arm.units for arm in arms]
    if sum(counts) == 0:
        return None
    check = srm_check(counts, list(weights) if weights is not None else [1.0] * len(arms))
    names = [arm.name for arm in arms]
    return Srm(
        observed=dict(zip(names, check.observed, strict=True)),
        expected=dict(zip(names, check.expected, strict=True)),
        p_value=check.p_value,
        mismatch=check.mismatch,
    )


def _summary(arm: _ArmData) -> Arm:
    totals = {name: float(counts.sum()) for name, counts in arm.daily.items()}
    return Arm(
        name=arm.name,
        units=arm.units,
        impressions=int(totals["impressions"]),
        clicks=int(totals["clicks"]),
        adds=int(totals["adds"]),
        orders=int(totals["orders"]),
        revenue=totals["revenue"],
        metrics={m: _mean_of(arm.final(m)) for m in METRICS},
    )


def _compare_all(
    control: _ArmData,
    treatment: _ArmData,
    metrics: list[str],
    alpha: float,
    rng: np.random.Generator,
) -> list[Comparison]:
    wanted = list(dict.fromkeys([*metrics, *METRICS]))  # the named metrics first, then the rest
    return [_compare(control, treatment, metric, alpha, rng) for metric in wanted]


def _compare(
    control: _ArmData, treatment: _ArmData, metric: str, alpha: float, rng: np.random.Generator
) -> Comparison:
    y_c, y_t = control.final(metric), treatment.final(metric)
    base = Comparison(metric, _mean_of(y_c), _mean_of(y_t))
    try:
        found = (
            _proportion(y_c, y_t, alpha, rng)
            if metric in PROPORTIONS
            else _mean(y_c, y_t, alpha, rng)
        )
    except InvalidInput as refused:  # the engine's refusal: too few units, constant arms
        return _replace(base, error=refused.message)
    adjusted = _cuped(y_c, y_t, control.covariates(metric), treatment.covariates(metric), alpha)
    return _replace(base, cuped=adjusted, **found)


def _proportion(y_c: Matrix, y_t: Matrix, alpha: float, rng: np.random.Generator) -> dict[str, Any]:
    cc, ct = int(y_c.sum()), int(y_t.sum())
    test = two_proportion_ztest(cc, y_c.size, ct, y_t.size, alpha=alpha)
    bayes = bayes_proportions(cc, y_c.size, ct, y_t.size, seed=rng, credibility=1.0 - alpha)
    return {
        "difference": test.difference,
        "ci_low": test.ci_low,
        "ci_high": test.ci_high,
        "relative_lift": test.relative_lift,
        "p_value": test.p_value,
        **_bayes_fields(bayes),
    }


def _mean(y_c: Matrix, y_t: Matrix, alpha: float, rng: np.random.Generator) -> dict[str, Any]:
    test = welch_ttest(y_c, y_t, alpha=alpha)
    boot = bootstrap_mean_difference(y_c, y_t, seed=rng, confidence=1.0 - alpha)
    bayes = bayes_means(y_c, y_t, credibility=1.0 - alpha)
    return {
        "difference": test.difference,
        "ci_low": test.ci_low,
        "ci_high": test.ci_high,
        "relative_lift": test.relative_lift,
        "p_value": test.p_value,
        "bootstrap_low": boot.ci_low,
        "bootstrap_high": boot.ci_high,
        **_bayes_fields(bayes),
    }


def _bayes_fields(bayes: Any) -> dict[str, float]:
    return {
        "chance_to_beat_control": bayes.chance_to_beat_control,
        "expected_loss_treatment": bayes.expected_loss_treatment,
        "expected_loss_control": bayes.expected_loss_control,
    }


def _cuped(y_c: Matrix, y_t: Matrix, x_c: Matrix, x_t: Matrix, alpha: float) -> Cuped | None:
    """CUPED with the pre-period covariates, or ``None`` when they explain nothing (no unit has
    a pre-period, or all have the same)."""
    try:
        found = cuped(y_c, y_t, x_c, x_t, alpha=alpha)
    except InvalidInput:
        return None
    return Cuped(
        variance_reduction=found.variance_reduction,
        difference=found.test.difference,
        ci_low=found.test.ci_low,
        ci_high=found.test.ci_high,
        p_value=found.test.p_value,
        covariates=[COVARIATES[i] for i in found.used],
    )


def _holm(
    comparisons: list[list[Comparison]], guardrails: list[str], alpha: float
) -> list[list[Comparison]]:
    """Holm's adjustment across every (guardrail, variant) comparison that has a p-value."""
    family = [
        (v, m)
        for v, found in enumerate(comparisons)
        for m, comparison in enumerate(found)
        if comparison.metric in guardrails and comparison.p_value is not None
    ]
    if not family:
        return comparisons
    raw = [comparisons[v][m].p_value or 0.0 for v, m in family]
    adjusted = adjust_p_values(raw, method="holm", alpha=alpha).p_values
    out = [list(found) for found in comparisons]
    for (v, m), p in zip(family, adjusted, strict=True):
        out[v][m] = _replace(out[v][m], p_value_adjusted=p)
    return out


def _sequentials(
    control: _ArmData,
    treated: list[_ArmData],
    metrics: list[str],
    span: tuple[int, int, int],
    alpha: float,
    tuning_units: int,
) -> list[list[Sequential | None]]:
    """Per variant and metric, the mSPRT (None where no look can be read yet), Holm-adjusted
    across every one that was read: the family is the variants for the primary metric, and the
    guardrails and variants for the guardrails (that of the fixed-horizon guardrail tests)."""
    found = [
        [_sequential(control, arm, metric, span, alpha, tuning_units) for metric in metrics]
        for arm in treated
    ]
    raw = [seq.p_value for row in found for seq in row if seq is not None]
    if not raw:
        return found
    adjusted = iter(adjust_p_values(raw, method="holm", alpha=alpha).p_values)
    return [
        [None if seq is None else _replace(seq, p_value_adjusted=next(adjusted)) for seq in row]
        for row in found
    ]


def _sequential(
    control: _ArmData,
    treatment: _ArmData,
    metric: str,
    span: tuple[int, int, int],
    alpha: float,
    tuning_units: int,
) -> Sequential | None:
    """The mSPRT over the cumulative looks that can be read (enough units, some spread);
    ``None`` before the first such look; ``span`` is (start, end, look interval) in ms."""
    start_ms, end_ms, look_ms = span
    c_values, c_in = _cumulative(control, metric)
    t_values, t_in = _cumulative(treatment, metric)
    looks: list[tuple[int, int, int, Difference]] = []
    for day in range(c_values.shape[1]):
        c, t = c_values[c_in[:, day], day], t_values[t_in[:, day], day]
        look = _look(metric, c, t)
        if look is not None:
            looks.append((day, c.size, t.size, look))
    if not looks:
        return None
    _day, n_c, n_t, last = looks[-1]
    tau2 = tuned_mixture_variance(last.variance, n_c + n_t, tuning_units, alpha)
    result = msprt([look for *_rest, look in looks], mixture_variance=tau2, alpha=alpha)
    rows = [
        Look(
            day=day,
            at=_iso(min(start_ms + (day + 1) * look_ms, end_ms)),
            units_control=n_c,
            units_treatment=n_t,
            estimate=look.estimate,
            ci_low=result.ci_low[i],
            ci_high=result.ci_high[i],
            p_value=result.p_values[i],
        )
        for i, (day, n_c, n_t, look) in enumerate(looks)
    ]
    rejection = result.first_rejection
    return Sequential(
        metric=metric,
        mixture_variance=result.mixture_variance,
        looks=rows,
        p_value=result.p_value,
        p_value_adjusted=result.p_value,
        first_rejection_day=None if rejection is None else rows[rejection].day,
    )


def _cumulative(arm: _ArmData, metric: str) -> tuple[Matrix, NDArray[np.bool_]]:
    """Each unit's metric over its answers up to each look, and whether it was in by then."""
    running = {name: np.cumsum(counts, axis=1) for name, counts in arm.daily.items()}
    return metric_values(metric, running), members(metric, running)


def _look(metric: str, control: Matrix, treatment: Matrix) -> Difference | None:
    if min(control.size, treatment.size) < MIN_UNITS_PER_ARM:
        return None
    if metric in PROPORTIONS:
        look = difference_of_proportions(
            int(control.sum()), control.size, int(treatment.sum()), treatment.size
        )
    else:
        look = difference_of_means(control, treatment)
    return look if look.variance > 0.0 else None


def _decision(srm: Srm | None, sequential: Sequential | None, alpha: float) -> str:
    if srm is not None and srm.mismatch:
        return "invalid: sample ratio mismatch"
    if sequential is None:
        return "not enough data"
    if sequential.p_value_adjusted >= alpha:
        return "no difference yet"
    return "better" if sequential.looks[-1].estimate > 0.0 else "worse"


def _overall(srm: Srm | None, results: Sequence[VariantResult]) -> str:
    if srm is not None and srm.mismatch:
        return "invalid: sample ratio mismatch"
    decided = [r for r in results if r.decision in ("better", "worse")]
    if not decided:
        waiting = all(r.decision == "not enough data" for r in results)
        return "not enough data" if waiting else "no difference yet"
    return "; ".join(f"{r.variant} {r.decision}" for r in decided)


def _mean_of(values: Matrix) -> float | None:
    return float(values.mean()) if values.size else None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", details=[{"field": field, "message": message}])
