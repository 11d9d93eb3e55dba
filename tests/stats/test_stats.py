"""Golden values of the experiment statistics engine, each recomputed here independently: from
the textbook formula with scipy's distributions, from a different scipy/statsmodels routine, or
from a published table."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, special, stats

from shopwise.errors import InvalidInput
from shopwise.stats import (
    MIN_UNITS_PER_ARM,
    Difference,
    adjust_p_values,
    bayes_arms,
    bayes_means,
    bayes_proportions,
    bootstrap_mean_difference,
    cuped,
    difference_of_means,
    difference_of_proportions,
    msprt,
    sample_size_means,
    sample_size_proportions,
    srm_check,
    tuned_mixture_variance,
    two_proportion_ztest,
    welch_ttest,
)

Z95 = stats.norm.ppf(0.975)


def _revenue(rng: np.random.Generator, n: int, rate: float = 0.05) -> np.ndarray:
    """Zero-inflated, skewed revenue per visitor."""
    return rng.lognormal(3.0, 1.0, n) * (rng.random(n) < rate)


# --- two-proportion z-test -------------------------------------------------------------------


def test_ztest_matches_the_textbook_pooled_z_and_wald_interval() -> None:
    cc, nc, ct, nt = 200, 2000, 245, 2100
    result = two_proportion_ztest(cc, nc, ct, nt)
    pc, pt, pooled = cc / nc, ct / nt, (cc + ct) / (nc + nt)
    z = (pt - pc) / math.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nt))
    half = Z95 * math.sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc)
    assert result.z == pytest.approx(z, rel=1e-12)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-10)
    assert (result.ci_low, result.ci_high) == pytest.approx((pt - pc - half, pt - pc + half))
    assert result.difference == pytest.approx(pt - pc)


def test_ztest_squared_is_the_uncorrected_chi_square_of_the_2x2_table() -> None:
    result = two_proportion_ztest(31, 400, 52, 410)
    table = [[31, 400 - 31], [52, 410 - 52]]
    chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    assert result.z**2 == pytest.approx(chi2, rel=1e-10)
    assert result.p_value == pytest.approx(p_value, rel=1e-10)
    assert result.z > 0 and result.significant


def test_ztest_relative_lift_has_the_log_ratio_interval() -> None:
    cc, nc, ct, nt = 120, 1500, 150, 1480
    result = two_proportion_ztest(cc, nc, ct, nt)
    ratio = (ct / nt) / (cc / nc)
    se = math.sqrt(1 / ct - 1 / nt + 1 / cc - 1 / nc)
    assert result.relative_lift == pytest.approx(ratio - 1)
    assert result.lift_ci_low == pytest.approx(ratio * math.exp(-Z95 * se) - 1, rel=1e-9)
    assert result.lift_ci_high == pytest.approx(ratio * math.exp(Z95 * se) - 1, rel=1e-9)


def test_ztest_equal_arms_give_no_effect() -> None:
    result = two_proportion_ztest(50, 1000, 50, 1000)
    assert result.z == 0.0
    assert result.p_value == pytest.approx(1.0)
    assert result.ci_low < 0 < result.ci_high
    assert result.relative_lift == 0.0


def test_ztest_zero_conversions_in_both_arms_is_no_evidence() -> None:
    result = two_proportion_ztest(0, 500, 0, 500)
    assert (result.z, result.p_value) == (0.0, 1.0)
    assert result.relative_lift is None and result.lift_ci_low is None


def test_ztest_zero_conversions_in_one_arm_still_tests_but_has_no_lift() -> None:
    result = two_proportion_ztest(0, 500, 9, 500)
    assert result.rate_control == 0.0
    assert result.p_value < 0.01
    assert result.relative_lift is None


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((1, 5, 1, 500), "n_control"),
        ((1, 500, 1, MIN_UNITS_PER_ARM - 1), "n_treatment"),
        ((501, 500, 1, 500), "conversions_control"),
        ((1, 500, -1, 500), "conversions_treatment"),
    ],
)
def test_ztest_refuses_tiny_or_impossible_arms(args: tuple[int, int, int, int], field: str) -> None:
    with pytest.raises(InvalidInput, match=field) as caught:
        two_proportion_ztest(*args)
    assert caught.value.details[0]["field"] == field


def test_ztest_refuses_a_bad_alpha() -> None:
    with pytest.raises(InvalidInput, match="alpha"):
        two_proportion_ztest(10, 100, 12, 100, alpha=1.5)


# --- Welch ------------------------------------------------------------------------------------


def test_welch_matches_scipy_and_the_welch_satterthwaite_interval(rng: np.random.Generator) -> None:
    control, treatment = rng.normal(10, 3, 300), rng.normal(10.8, 5, 200)
    result = welch_ttest(control, treatment, alpha=0.1)
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    vt, vc = treatment.var(ddof=1) / 200, control.var(ddof=1) / 300
    df = (vt + vc) ** 2 / (vt**2 / 199 + vc**2 / 299)
    diff = treatment.mean() - control.mean()
    half = stats.t.ppf(0.95, df) * math.sqrt(vt + vc)
    assert result.t == pytest.approx(reference.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-12)
    assert result.df == pytest.approx(df, rel=1e-10)
    assert (result.ci_low, result.ci_high) == pytest.approx((diff - half, diff + half), rel=1e-9)
    assert result.relative_lift == pytest.approx(diff / control.mean())


def test_welch_of_equal_arms_finds_nothing(rng: np.random.Generator) -> None:
    values = rng.normal(5, 1, 50)
    result = welch_ttest(values, values.copy())
    assert result.t == 0.0 and result.p_value == pytest.approx(1.0)
    assert not result.significant


def test_welch_refuses_constant_arms_tiny_arms_and_missing_values() -> None:
    with pytest.raises(InvalidInput, match="constant"):
        welch_ttest(np.zeros(50), np.zeros(50))
    with pytest.raises(InvalidInput, match="control"):
        welch_ttest([1.0, 2.0, 3.0], np.arange(50.0))
    with pytest.raises(InvalidInput, match="treatment: holds a missing"):
        welch_ttest(np.arange(50.0), [*range(49), float("nan")])


# --- bootstrap --------------------------------------------------------------------------------


def test_bootstrap_matches_scipy_with_the_same_seed(rng: np.random.Generator) -> None:
    control, treatment = _revenue(rng, 3000), _revenue(rng, 3000, rate=0.06)
    result = bootstrap_mean_difference(control, treatment, seed=7, n_resamples=1000)
    reference = stats.bootstrap(
        (treatment, control),
        lambda t, c, axis: t.mean(axis=axis) - c.mean(axis=axis),
        vectorized=True,
        n_resamples=1000,
        method="percentile",
        rng=np.random.default_rng(7),
    )
    assert result.ci_low == pytest.approx(reference.confidence_interval.low, rel=1e-12)
    assert result.ci_high == pytest.approx(reference.confidence_interval.high, rel=1e-12)
    assert result.difference == pytest.approx(treatment.mean() - control.mean())


def test_bootstrap_agrees_with_a_plain_numpy_bootstrap_and_the_analytic_error(
    rng: np.random.Generator,
) -> None:
    control, treatment = _revenue(rng, 4000), _revenue(rng, 4000)
    result = bootstrap_mean_difference(control, treatment, seed=1, n_resamples=4000)
    draws = np.random.default_rng(99)
    diffs = np.array(
        [
            draws.choice(treatment, treatment.size).mean()
            - draws.choice(control, control.size).mean()
            for _ in range(4000)
        ]
    )
    analytic = math.sqrt(treatment.var(ddof=1) / 4000 + control.var(ddof=1) / 4000)
    assert result.standard_error == pytest.approx(diffs.std(), rel=0.06)
    assert result.standard_error == pytest.approx(analytic, rel=0.06)
    assert result.ci_low == pytest.approx(np.quantile(diffs, 0.025), abs=0.25 * analytic)
    assert result.ci_high == pytest.approx(np.quantile(diffs, 0.975), abs=0.25 * analytic)


def test_bootstrap_is_reproducible_and_refuses_degenerate_input(rng: np.random.Generator) -> None:
    control, treatment = _revenue(rng, 500), _revenue(rng, 500)
    first = bootstrap_mean_difference(control, treatment, seed=3, n_resamples=500)
    assert bootstrap_mean_difference(control, treatment, seed=3, n_resamples=500) == first
    with pytest.raises(InvalidInput, match="n_resamples"):
        bootstrap_mean_difference(control, treatment, seed=3, n_resamples=10)
    with pytest.raises(InvalidInput, match="constant"):
        bootstrap_mean_difference(np.zeros(100), np.zeros(100), seed=3)


# --- Bayesian ---------------------------------------------------------------------------------


def _exact_chance_beta(a_t: float, b_t: float, a_c: float, b_c: float) -> float:
    """P(p_t > p_c) for Beta posteriors, Evan Miller's closed form (integer ``a_t``)."""
    total = sum(
        math.exp(
            special.betaln(a_c + i, b_c + b_t)
            - math.log(b_t + i)
            - special.betaln(1 + i, b_t)
            - special.betaln(a_c, b_c)
        )
        for i in range(int(a_t))
    )
    return total


def _exact_loss_beta(a_t: float, b_t: float, a_c: float, b_c: float) -> float:
    """E[max(0, p_c - p_t)] by quadrature: the inner expectation over p_c uses
    ``y Beta(y; a, b) = a / (a + b) Beta(y; a + 1, b)``."""
    mean_c = a_c / (a_c + b_c)

    def shortfall(x: float) -> float:
        above = mean_c * stats.beta.sf(x, a_c + 1, b_c) - x * stats.beta.sf(x, a_c, b_c)
        return float(stats.beta.pdf(x, a_t, b_t) * above)

    value, _ = integrate.quad(shortfall, 0, 1, points=[a_t / (a_t + b_t)], limit=200)
    return float(value)


def test_beta_binomial_matches_the_exact_chance_and_loss() -> None:
    cc, nc, ct, nt = 40, 1000, 55, 1000
    result = bayes_proportions(cc, nc, ct, nt, seed=11)
    a_c, b_c, a_t, b_t = 1 + cc, 1 + nc - cc, 1 + ct, 1 + nt - ct
    assert result.chance_to_beat_control == pytest.approx(
        _exact_chance_beta(a_t, b_t, a_c, b_c), abs=0.005
    )
    assert result.expected_loss_treatment == pytest.approx(
        _exact_loss_beta(a_t, b_t, a_c, b_c), rel=0.05
    )
    assert result.expected_loss_control == pytest.approx(
        _exact_loss_beta(a_c, b_c, a_t, b_t), rel=0.02
    )
    assert result.difference == pytest.approx(a_t / (a_t + b_t) - a_c / (a_c + b_c), abs=5e-4)


def test_beta_binomial_equal_arms_are_a_coin_flip_and_seeded() -> None:
    result = bayes_proportions(30, 600, 30, 600, seed=5)
    assert result.chance_to_beat_control == pytest.approx(0.5, abs=0.005)
    assert result.expected_loss_treatment == pytest.approx(result.expected_loss_control, rel=0.03)
    assert bayes_proportions(30, 600, 30, 600, seed=5) == result


def test_beta_binomial_handles_zero_conversions() -> None:
    result = bayes_proportions(0, 200, 0, 200, seed=1)
    assert result.chance_to_beat_control == pytest.approx(0.5, abs=0.005)
    assert result.ci_low < 0 < result.ci_high
    with pytest.raises(InvalidInput, match="draws"):
        bayes_proportions(0, 200, 0, 200, seed=1, draws=10)
    with pytest.raises(InvalidInput, match="prior_successes"):
        bayes_proportions(0, 200, 0, 200, seed=1, prior_successes=0)


def test_bandit_arms_match_the_exact_posteriors() -> None:
    """Two arms: the chance of being best is the exact chance to beat the other, the expected
    loss the exact shortfall; means and intervals are the Beta's own."""
    wins, tries = [40, 55], [1000, 1000]
    arms = bayes_arms(wins, tries, seed=11)
    (a_c, b_c), (a_t, b_t) = [(1 + w, 1 + n - w) for w, n in zip(wins, tries, strict=True)]
    chance_t = _exact_chance_beta(a_t, b_t, a_c, b_c)
    assert arms[1].chance_best == pytest.approx(chance_t, abs=0.005)
    assert arms[0].chance_best + arms[1].chance_best == pytest.approx(1.0)
    assert arms[1].expected_loss == pytest.approx(_exact_loss_beta(a_t, b_t, a_c, b_c), rel=0.05)
    assert arms[0].expected_loss == pytest.approx(_exact_loss_beta(a_c, b_c, a_t, b_t), rel=0.02)
    for arm, (a, b) in zip(arms, [(a_c, b_c), (a_t, b_t)], strict=True):
        assert arm.mean == pytest.approx(stats.beta.mean(a, b), rel=1e-12)
        low, high = stats.beta.ppf([0.025, 0.975], a, b)
        assert (arm.ci_low, arm.ci_high) == pytest.approx((low, high), rel=1e-9)


def test_bandit_arms_chance_of_being_best_matches_quadrature_for_three_arms() -> None:
    """P(arm i best) = integral of its density times the others' distribution functions."""
    wins, tries = [12, 20, 3], [100, 110, 40]
    arms = bayes_arms(wins, tries, seed=3, credibility=0.9)
    params = [(1 + w, 1 + n - w) for w, n in zip(wins, tries, strict=True)]
    for i, arm in enumerate(arms):
        others = [p for j, p in enumerate(params) if j != i]

        def best(x: float, i: int = i, others: list[tuple[int, int]] = others) -> float:
            below = math.prod(stats.beta.cdf(x, a, b) for a, b in others)
            return float(stats.beta.pdf(x, *params[i]) * below)

        exact, _ = integrate.quad(best, 0, 1, limit=200)
        assert arm.chance_best == pytest.approx(exact, abs=0.005)
        assert arm.ci_high - arm.ci_low == pytest.approx(
            float(np.diff(stats.beta.interval(0.9, *params[i]))[0]), rel=1e-9
        )
    assert sum(arm.chance_best for arm in arms) == pytest.approx(1.0)
    assert min(arm.expected_loss for arm in arms) == arms[1].expected_loss >= 0.0


def test_bandit_arms_are_seeded_and_an_empty_arm_keeps_its_prior() -> None:
    arms = bayes_arms([0, 5], [0, 50], seed=4)
    assert bayes_arms([0, 5], [0, 50], seed=4) == arms
    assert arms[0].mean == 0.5 and (arms[0].ci_low, arms[0].ci_high) == pytest.approx(
        (0.025, 0.975)
    )
    with pytest.raises(InvalidInput, match="trials"):
        bayes_arms([1], [1, 2], seed=1)
    with pytest.raises(InvalidInput, match="trials"):
        bayes_arms([], [], seed=1)
    with pytest.raises(InvalidInput, match="successes"):
        bayes_arms([3, 1], [2, 2], seed=1)
    with pytest.raises(InvalidInput, match="draws"):
        bayes_arms([1, 1], [2, 2], seed=1, draws=10)


def test_normal_posterior_matches_quadrature(rng: np.random.Generator) -> None:
    control, treatment = rng.normal(20, 6, 400), rng.normal(20.5, 6, 420)
    result = bayes_means(control, treatment)
    d = treatment.mean() - control.mean()
    s = math.sqrt(treatment.var(ddof=1) / 420 + control.var(ddof=1) / 400)
    posterior = stats.norm(d, s)
    loss_t, _ = integrate.quad(lambda x: -x * posterior.pdf(x), -np.inf, 0)
    loss_c, _ = integrate.quad(lambda x: x * posterior.pdf(x), 0, np.inf)
    assert result.chance_to_beat_control == pytest.approx(stats.norm.cdf(d / s), rel=1e-10)
    assert result.expected_loss_treatment == pytest.approx(loss_t, rel=1e-7)
    assert result.expected_loss_control == pytest.approx(loss_c, rel=1e-7)
    assert (result.ci_low, result.ci_high) == pytest.approx((d - Z95 * s, d + Z95 * s))


def test_normal_posterior_of_equal_arms_is_even(rng: np.random.Generator) -> None:
    values = rng.normal(3, 1, 100)
    result = bayes_means(values, values.copy())
    assert result.chance_to_beat_control == pytest.approx(0.5)
    assert result.expected_loss_treatment == pytest.approx(result.expected_loss_control)


# --- sequential (mSPRT) -----------------------------------------------------------------------


def test_msprt_matches_johari_equal_sample_closed_form() -> None:
    """Johari et al., eq. for paired differences with variance V per pair and n pairs:
    Lambda_n = sqrt(V / (V + n tau^2)) exp(n^2 tau^2 ybar^2 / (2 V (V + n tau^2)))."""
    sigma2, tau2, ybar = 4.0, 0.05, 0.3
    looks = [Difference(ybar, 2 * sigma2 / n) for n in (100, 200, 400)]
    result = msprt(looks, mixture_variance=tau2)
    big_v = 2 * sigma2
    expected = [
        min(
            1.0,
            1
            / (
                math.sqrt(big_v / (big_v + n * tau2))
                * math.exp(n**2 * tau2 * ybar**2 / (2 * big_v * (big_v + n * tau2)))
            ),
        )
        for n in (100, 200, 400)
    ]
    assert result.p_values == pytest.approx(np.minimum.accumulate(expected), rel=1e-10)


def test_tuned_mixture_variance_follows_the_metric_spread_and_the_tuning_size() -> None:
    log_term = -2.0 * math.log(0.05)
    rho2 = (log_term + math.log(log_term + 1.0)) / 5000
    assert tuned_mixture_variance(0.01, 200, 5000) == pytest.approx(rho2 * 2.0)
    # scale-free: a metric ten times as spread gets a mixture ten times as wide
    assert tuned_mixture_variance(1.0, 200, 5000) == pytest.approx(
        100 * tuned_mixture_variance(0.01, 200, 5000)
    )
    # read at the tuning size, tau^2 / variance is the boundary's optimum for alpha
    assert tuned_mixture_variance(0.01, 5000, 5000) / 0.01 == pytest.approx(7.9362, abs=1e-4)
    with pytest.raises(InvalidInput, match="tuning_units"):
        tuned_mixture_variance(0.01, 200, 0)


def test_msprt_p_values_never_rise_and_intervals_nest() -> None:
    estimates = [0.02, 0.01, 0.015, -0.004, 0.001]
    looks = [Difference(e, 1e-4 / (k + 1)) for k, e in enumerate(estimates)]
    result = msprt(looks, mixture_variance=1e-4)
    assert all(b <= a for a, b in zip(result.p_values, result.p_values[1:], strict=False))
    assert all(b >= a for a, b in zip(result.ci_low, result.ci_low[1:], strict=False))
    assert all(b <= a for a, b in zip(result.ci_high, result.ci_high[1:], strict=False))


def test_msprt_interval_excludes_zero_exactly_when_p_is_under_alpha() -> None:
    for estimate in np.linspace(0.0, 0.08, 41):
        result = msprt([Difference(float(estimate), 2.5e-4)], mixture_variance=4e-4)
        excludes = result.ci_low[0] > 0 or result.ci_high[0] < 0
        assert excludes == (result.p_value < 0.05) or math.isclose(result.p_value, 0.05)


def test_msprt_detects_a_real_effect_over_daily_looks() -> None:
    looks = [difference_of_proportions(50 * d, 1000 * d, 65 * d, 1000 * d) for d in range(1, 15)]
    result = msprt(looks, mixture_variance=0.015**2)
    assert result.significant
    assert result.first_rejection is not None and result.first_rejection > 0
    assert result.ci_low[-1] > 0


def test_msprt_looks_from_means_use_the_welch_variance(rng: np.random.Generator) -> None:
    control, treatment = rng.normal(0, 1, 300), rng.normal(0, 2, 100)
    look = difference_of_means(control, treatment)
    assert look.variance == pytest.approx(treatment.var(ddof=1) / 100 + control.var(ddof=1) / 300)


def test_msprt_refuses_bad_looks() -> None:
    with pytest.raises(InvalidInput, match="looks"):
        msprt([], mixture_variance=1.0)
    with pytest.raises(InvalidInput, match="looks"):
        msprt([Difference(0.1, 0.0)], mixture_variance=1.0)
    with pytest.raises(InvalidInput, match="mixture_variance"):
        msprt([Difference(0.1, 0.1)], mixture_variance=0.0)


# --- CUPED ------------------------------------------------------------------------------------


def test_cuped_theta_is_the_ols_slope_and_reduction_the_squared_correlation(
    rng: np.random.Generator,
) -> None:
    pre_c, pre_t = rng.gamma(2, 10, 800), rng.gamma(2, 10, 800)
    y_c = 0.8 * pre_c + rng.normal(0, 8, 800)
    y_t = 0.8 * pre_t + rng.normal(0, 8, 800) + 1.5
    result = cuped(y_c, y_t, pre_c, pre_t)
    y, x = np.concatenate([y_c, y_t]), np.concatenate([pre_c, pre_t])
    slope = sm.OLS(y, sm.add_constant(x)).fit().params[1]
    assert result.theta == pytest.approx((slope,), rel=1e-9) and result.used == (0,)
    assert result.variance_reduction == pytest.approx(stats.pearsonr(y, x).statistic ** 2)
    adjusted_c, adjusted_t = y_c - slope * (pre_c - x.mean()), y_t - slope * (pre_t - x.mean())
    reference = stats.ttest_ind(adjusted_t, adjusted_c, equal_var=False)
    assert result.test.p_value == pytest.approx(reference.pvalue, rel=1e-8)
    assert result.adjusted_mean_treatment == pytest.approx(adjusted_t.mean())
    plain = welch_ttest(y_c, y_t)
    assert result.test.ci_high - result.test.ci_low < plain.ci_high - plain.ci_low


def test_cuped_with_several_covariates_matches_statsmodels_ols(rng: np.random.Generator) -> None:
    """Golden: theta is the OLS fit of the pooled metric on the covariates (with an intercept),
    the variance removed its R squared, and the test Welch's on the OLS-adjusted values; a
    constant column is left out of the fit."""
    n_c, n_t = 600, 650
    views = rng.poisson(4.0, n_c + n_t).astype(float)
    spend = rng.gamma(2.0, 15.0, n_c + n_t) * (rng.random(n_c + n_t) < 0.4)
    same = 0.5 * spend + rng.normal(0, 5, n_c + n_t)
    flat = np.full(n_c + n_t, 3.0)
    x = np.column_stack([same, views, flat, spend])
    y = 2.0 * views + 0.6 * spend + 0.3 * same + rng.normal(0, 6, n_c + n_t)
    y[n_c:] += 1.0
    result = cuped(y[:n_c], y[n_c:], x[:n_c], x[n_c:])
    kept = x[:, [0, 1, 3]]
    fit = sm.OLS(y, sm.add_constant(kept)).fit()
    assert result.used == (0, 1, 3)
    assert result.theta[2] == 0.0
    assert [result.theta[i] for i in (0, 1, 3)] == pytest.approx(list(fit.params[1:]), rel=1e-8)
    assert result.variance_reduction == pytest.approx(fit.rsquared, rel=1e-9)
    adjusted = y - (kept - kept.mean(axis=0)) @ fit.params[1:]
    reference = stats.ttest_ind(adjusted[n_c:], adjusted[:n_c], equal_var=False)
    assert result.test.p_value == pytest.approx(reference.pvalue, rel=1e-7)
    assert result.adjusted_mean_control == pytest.approx(adjusted[:n_c].mean())
    one = cuped(y[:n_c], y[n_c:], views[:n_c], views[n_c:])
    as_column = cuped(y[:n_c], y[n_c:], views[:n_c, None], views[n_c:, None])
    assert one == as_column  # a 1-D covariate is one column
    assert result.variance_reduction > one.variance_reduction


def test_cuped_with_an_unrelated_covariate_changes_little(rng: np.random.Generator) -> None:
    y_c, y_t = rng.normal(5, 1, 2000), rng.normal(5, 1, 2000)
    result = cuped(y_c, y_t, rng.normal(0, 1, 2000), rng.normal(0, 1, 2000))
    assert result.variance_reduction < 0.01
    assert result.test.difference == pytest.approx(y_t.mean() - y_c.mean(), abs=0.01)


def test_cuped_refuses_mismatched_or_constant_covariates(rng: np.random.Generator) -> None:
    y = rng.normal(0, 1, 50)
    with pytest.raises(InvalidInput, match="treatment_covariate"):
        cuped(y, y, y, y[:40])
    with pytest.raises(InvalidInput, match="constant"):
        cuped(y, y, np.ones(50), np.ones(50))
    with pytest.raises(InvalidInput, match="constant"):
        cuped(y, y, np.ones((50, 3)), np.ones((50, 3)))
    with pytest.raises(InvalidInput, match="treatment_covariate"):
        cuped(y, y, np.ones((50, 2)), np.ones((50, 3)))
    with pytest.raises(InvalidInput, match="control_covariate"):
        cuped(y, y, np.ones((50, 2, 2)), np.ones((50, 2, 2)))
    with pytest.raises(InvalidInput, match="missing"):
        cuped(y, y, np.full(50, np.nan), y)


# --- multiple comparisons ---------------------------------------------------------------------

# Benjamini and Hochberg (1995), section 4: fifteen p-values from a clinical trial; at 0.05 the
# step-up procedure rejects four hypotheses, Holm's step-down three.
BH_1995 = [
    0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344,
    0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000,
]  # fmt: skip


def test_benjamini_hochberg_reproduces_the_published_example() -> None:
    result = adjust_p_values(BH_1995, method="benjamini_hochberg")
    assert sum(result.reject) == 4
    assert result.p_values == pytest.approx(stats.false_discovery_control(BH_1995, method="bh"))


def test_holm_reproduces_the_published_example_and_its_formula() -> None:
    result = adjust_p_values(BH_1995, method="holm")
    assert sum(result.reject) == 3
    m = len(BH_1995)
    expected = np.minimum(1.0, np.maximum.accumulate([(m - i) * p for i, p in enumerate(BH_1995)]))
    assert result.p_values == pytest.approx(expected)


def test_adjustment_keeps_the_callers_order() -> None:
    result = adjust_p_values([0.5, 0.001, 0.04], method="holm")
    assert result.p_values == pytest.approx([0.5, 0.003, 0.08])
    assert result.reject == (False, True, False)


def test_adjustment_refuses_bad_input() -> None:
    with pytest.raises(InvalidInput, match="p_values"):
        adjust_p_values([0.1, 1.2], method="holm")
    with pytest.raises(InvalidInput, match="p_values"):
        adjust_p_values([], method="holm")
    with pytest.raises(InvalidInput, match="method"):
        adjust_p_values([0.1], method="bonferroni")  # type: ignore[arg-type]


# --- SRM --------------------------------------------------------------------------------------


def test_srm_matches_the_hand_computed_chi_square() -> None:
    result = srm_check([9600, 10400], [0.5, 0.5])
    assert result.chi_square == pytest.approx(2 * 400**2 / 10000)
    assert result.p_value == pytest.approx(stats.chi2.sf(32.0, df=1))
    assert result.mismatch


def test_srm_with_three_uneven_arms() -> None:
    counts, weights = [5030, 2460, 2510], [2, 1, 1]
    result = srm_check(counts, weights)
    expected = np.array([5000, 2500, 2500])
    chi2 = float(((np.array(counts) - expected) ** 2 / expected).sum())
    assert result.expected == pytest.approx(tuple(expected))
    assert result.chi_square == pytest.approx(chi2)
    assert result.p_value == pytest.approx(stats.chi2.sf(chi2, df=2))
    assert not result.mismatch


def test_srm_threshold_is_strict() -> None:
    assert not srm_check([10000, 10000], [1, 1]).mismatch
    assert srm_check([10000, 10000], [1, 1]).p_value == pytest.approx(1.0)
    # chi-square of 10.0 has p of about 0.0016: suspicious, but not flagged
    assert not srm_check([4842, 5158], [1, 1]).mismatch


def test_srm_refuses_bad_input() -> None:
    with pytest.raises(InvalidInput, match="counts"):
        srm_check([100], [1])
    with pytest.raises(InvalidInput, match="counts"):
        srm_check([0, 0], [1, 1])
    with pytest.raises(InvalidInput, match="weights"):
        srm_check([10, 10], [1, 0])


# --- planning ---------------------------------------------------------------------------------


def _normal_n(effect: float, alpha: float = 0.05, power: float = 0.8) -> float:
    return 2 * ((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) / effect) ** 2


def test_sample_size_for_rates_matches_cohens_h_formula_and_table() -> None:
    plan = sample_size_proportions(0.10, 0.02, daily_units=500)
    h = 2 * math.asin(math.sqrt(0.12)) - 2 * math.asin(math.sqrt(0.10))
    assert plan.effect_size == pytest.approx(h)
    assert plan.units_per_arm == math.ceil(_normal_n(h))
    assert plan.total_units == 2 * plan.units_per_arm
    assert plan.days == math.ceil(plan.total_units / 500)
    # Cohen (1988), table 6.4.1: h = 0.2, two-sided alpha 0.05, power 0.8 -> 392 per group
    target = math.sin(0.1 + math.asin(math.sqrt(0.5))) ** 2
    h_020 = sample_size_proportions(0.5, target - 0.5, daily_units=100)
    assert h_020.effect_size == pytest.approx(0.2)
    assert abs(h_020.units_per_arm - 392) <= 1


def test_sample_size_for_means_matches_the_normal_formula() -> None:
    plan = sample_size_means(30.0, 1.5, daily_units=1500, power=0.9, arms=3)
    assert plan.effect_size == pytest.approx(0.05)
    assert plan.units_per_arm == math.ceil(_normal_n(0.05, power=0.9))
    assert plan.total_units == 3 * plan.units_per_arm
    assert plan.warning is None and plan.days >= 14


def test_short_plans_warn_about_weekly_cycles() -> None:
    plan = sample_size_proportions(0.10, 0.02, daily_units=5000)
    assert plan.days < 14
    assert plan.warning is not None and "14 days" in plan.warning


def test_planning_refuses_impossible_effects() -> None:
    with pytest.raises(InvalidInput, match="minimum_detectable_effect"):
        sample_size_proportions(0.95, 0.1, daily_units=100)
    with pytest.raises(InvalidInput, match="minimum_detectable_effect"):
        sample_size_means(1.0, 0.0, daily_units=100)
    with pytest.raises(InvalidInput, match="daily_units"):
        sample_size_means(1.0, 0.1, daily_units=0)
    with pytest.raises(InvalidInput, match="arms"):
        sample_size_means(1.0, 0.1, daily_units=10, arms=1)


# --- invariants -------------------------------------------------------------------------------

arm = st.integers(min_value=MIN_UNITS_PER_ARM, max_value=100_000)


@given(data=st.data(), n_control=arm, n_treatment=arm)
def test_swapping_arms_mirrors_the_ztest(
    data: st.DataObject, n_control: int, n_treatment: int
) -> None:
    cc = data.draw(st.integers(0, n_control))
    ct = data.draw(st.integers(0, n_treatment))
    forward = two_proportion_ztest(cc, n_control, ct, n_treatment)
    backward = two_proportion_ztest(ct, n_treatment, cc, n_control)
    assert forward.p_value == pytest.approx(backward.p_value, rel=1e-9, abs=1e-300)
    assert forward.z == pytest.approx(-backward.z, abs=1e-9)
    assert forward.ci_low == pytest.approx(-backward.ci_high, abs=1e-12)
    assert forward.ci_low <= forward.difference <= forward.ci_high
    assert 0.0 <= forward.p_value <= 1.0


@given(
    estimates=st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=30),
    variance=st.floats(1e-6, 1.0),
    tau2=st.floats(1e-6, 1.0),
)
def test_msprt_p_values_are_valid_and_monotone(
    estimates: list[float], variance: float, tau2: float
) -> None:
    looks = [Difference(e, variance / (k + 1)) for k, e in enumerate(estimates)]
    result = msprt(looks, mixture_variance=tau2)
    p = np.array(result.p_values)
    assert np.all((p >= 0.0) & (p <= 1.0))
    assert np.all(np.diff(p) <= 0.0)
    assert np.all(np.array(result.ci_low) <= np.array(result.ci_high) + 1e-12) or result.significant
