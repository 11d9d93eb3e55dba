"""Drift statistics: golden values from scipy and by hand, invariants, and the verdict rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from shopwise.drift import (
    DriftThresholds,
    categorical_drift,
    chi_square,
    ks_test,
    numeric_drift,
    price_band,
    psi_categorical,
    psi_numeric,
    quantile_edges,
    wasserstein_normalised,
)

EPS = 1e-4


def test_ks_matches_scipy_and_a_hand_count() -> None:
    # ECDFs of {1,2,3,4} and {3,4,5,6} differ most at 2: 0.5 against 0
    assert ks_test([1, 2, 3, 4], [3, 4, 5, 6]).statistic == pytest.approx(0.5)
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 1, 300), rng.normal(0.3, 1, 250)
    expected = stats.ks_2samp(a, b)
    got = ks_test(list(a), list(b))
    assert got.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert got.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_numeric_psi_uses_the_reference_quantiles_and_counts_empty_bins_as_epsilon() -> None:
    reference = [float(v) for v in range(100)]
    assert list(quantile_edges(reference, 4)) == pytest.approx([24.75, 49.5, 74.25])
    recent = [60.0] * 50 + [90.0] * 50  # bins 3 and 4 only
    expected = 2 * (EPS - 0.25) * math.log(EPS / 0.25) + 2 * (0.5 - 0.25) * math.log(0.5 / 0.25)
    assert psi_numeric(reference, recent, bins=4) == pytest.approx(expected)
    assert psi_numeric(reference, reference, bins=10) == pytest.approx(0.0)


def test_values_beyond_the_reference_fall_in_its_end_bins() -> None:
    reference = [float(v) for v in range(100)]
    recent = [1000.0] * 100  # a new price band: every recent value above the reference's range
    expected = 9 * (EPS - 0.1) * math.log(EPS / 0.1) + (1 - 0.1) * math.log(1 / 0.1)
    assert psi_numeric(reference, recent, bins=10) == pytest.approx(expected)


def test_categorical_psi_by_hand_and_a_new_category() -> None:
    reference, recent = ["a"] * 50 + ["b"] * 50, ["a"] * 80 + ["b"] * 20
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert psi_categorical(reference, recent) == pytest.approx(expected)
    new = psi_categorical(["a"] * 100, ["a"] * 50 + ["new"] * 50)
    assert new == pytest.approx((0.5 - 1) * math.log(0.5) + (0.5 - EPS) * math.log(0.5 / EPS))


def test_chi_square_matches_scipy_and_cramers_v_by_hand() -> None:
    reference, recent = ["a"] * 50 + ["b"] * 50, ["a"] * 80 + ["b"] * 20
    # expected counts 65 and 35 in each row
    chi2 = 2 * (15**2 / 65) + 2 * (15**2 / 35)
    got = chi_square(reference, recent)
    assert got.statistic == pytest.approx(chi2)
    assert got.p_value == pytest.approx(stats.chi2.sf(chi2, 1))
    assert got.cramers_v == pytest.approx(math.sqrt(chi2 / 200))
    table = [[50, 50], [80, 20]]
    assert got.statistic == pytest.approx(stats.chi2_contingency(table, correction=False)[0])
    assert chi_square(["a"] * 10, ["a"] * 30).p_value == 1.0


def test_wasserstein_is_divided_by_the_reference_spread() -> None:
    reference = [0.0, 1.0, 2.0, 3.0, 4.0]
    shifted = [v + 1 for v in reference]  # every unit of mass moves by 1
    assert wasserstein_normalised(reference, shifted) == pytest.approx(1 / math.sqrt(2))
    assert wasserstein_normalised(reference, shifted) == pytest.approx(
        stats.wasserstein_distance(reference, shifted) / np.std(reference)
    )
    assert wasserstein_normalised([5.0] * 10, [6.0] * 10) == pytest.approx(1 / 5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=60),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=60),
)
def test_psi_is_never_negative_and_zero_on_the_same_sample(a: list[float], b: list[float]) -> None:
    assert psi_numeric(a, b) >= -1e-12
    assert psi_numeric(a, a) == pytest.approx(0.0, abs=1e-12)
    assert psi_categorical([str(v) for v in a], [str(v) for v in b]) >= -1e-12


def test_the_same_distribution_is_not_drift_and_a_shift_is() -> None:
    rng = np.random.default_rng(1)
    t = DriftThresholds()
    same = numeric_drift("x", "inputs", list(rng.normal(0, 1, 400)), list(rng.normal(0, 1, 400)), t)
    assert same.drifted is False and same.fired == []
    moved = numeric_drift(
        "x", "inputs", list(rng.normal(0, 1, 400)), list(rng.normal(0.8, 1, 400)), t
    )
    assert moved.drifted is True and "ks" in moved.fired and "psi" in moved.fired


def test_a_huge_sample_does_not_flag_a_negligible_shift() -> None:
    """KS is significant on any shift with enough data; the minimum effects keep it quiet."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 200_000), rng.normal(0.03, 1, 200_000)
    assert stats.ks_2samp(a, b).pvalue < 1e-6
    result = numeric_drift("x", "inputs", list(a), list(b), DriftThresholds())
    assert result.drifted is False
    assert result.statistics["wasserstein"] < 0.1 and result.statistics["psi"] < 0.2
    moved = numeric_drift("x", "inputs", list(a), list(b + 0.3), DriftThresholds())
    assert moved.fired == ["wasserstein"]  # large samples read Wasserstein, not KS


def test_categorical_verdicts_and_too_few_values() -> None:
    t = DriftThresholds()
    surge = categorical_drift(
        "c", "inputs", ["a", "b", "c"] * 100, ["a"] * 200 + ["b", "c"] * 50, t
    )
    assert surge.drifted is True and surge.fired == ["psi", "chi2"]
    steady = categorical_drift("c", "inputs", ["a", "b", "c"] * 100, ["a", "b", "c"] * 90, t)
    assert steady.drifted is False
    few = categorical_drift("c", "inputs", ["a"] * 100, ["b"] * 5, t)
    assert few.drifted is None and few.statistics == {}


@pytest.mark.parametrize(
    ("price", "band"), [(0.0, "0-10"), (9.99, "0-10"), (10.0, "10-25"), (999.0, "500-1000")]
)
def test_price_bands(price: float, band: str) -> None:
    assert price_band(price) == band
    assert price_band(5000.0) == ">=1000"
