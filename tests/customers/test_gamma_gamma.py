from __future__ import annotations

import math

import numpy as np
import pytest

from shopwise.customers.clv import (
    BetaGeoModel,
    BetaGeoParams,
    GammaGammaModel,
    GammaGammaParams,
    clv,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
)

PUBLISHED = GammaGammaParams(p=6.25, q=3.74, v=15.44)


def test_log_likelihood_matches_hand_computation() -> None:
    p, q, v, x, z = 6.25, 3.74, 15.44, 3, 20.0
    by_hand = (
        math.gamma(p * x + q)
        / (math.gamma(p * x) * math.gamma(q))
        * v**q
        * z ** (p * x - 1)
        * x ** (p * x)
        / (v + x * z) ** (p * x + q)
    )
    ll = gamma_gamma_log_likelihood(PUBLISHED, [x], [z])[0]
    assert ll == pytest.approx(math.log(by_hand), rel=1e-10)


def test_expected_spend_shrinks_towards_population_mean() -> None:
    model = GammaGammaModel(PUBLISHED, 0.0, 1, True)
    population = 6.25 * 15.44 / (3.74 - 1)
    assert model.expected_spend([0], [0.0])[0] == pytest.approx(population)
    one, many = model.expected_spend([1, 50], [100.0, 100.0])
    assert population < one < many < 100.0


def test_fit_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(11)
    truth = GammaGammaParams(p=5.0, q=4.0, v=20.0)
    n = 5000
    x = rng.integers(1, 8, n)
    scale = rng.gamma(truth.q, 1 / truth.v, n)  # nu ~ Gamma(q, rate v)
    zbar = np.array([rng.gamma(truth.p, 1 / s, k).mean() for s, k in zip(scale, x, strict=True)])
    model = fit_gamma_gamma(x, zbar)
    fitted = np.array([model.params.p, model.params.q, model.params.v])
    assert fitted == pytest.approx([5.0, 4.0, 20.0], rel=0.15)
    assert model.n_customers == n


def test_fit_ignores_non_repeaters_and_needs_one_repeater() -> None:
    with pytest.raises(ValueError, match="repeat buyer"):
        fit_gamma_gamma([0, 0], [0.0, 0.0])


def test_clv_is_expected_purchases_times_spend_without_discounting() -> None:
    purchases = BetaGeoModel(BetaGeoParams(0.243, 4.414, 0.793, 2.426), 0.0, 1, True)
    spend = GammaGammaModel(PUBLISHED, 0.0, 1, True)
    args = ([2, 0], [30.0, 0.0], [38.0, 38.0], [25.0, 0.0])
    value = clv(purchases, spend, *args, horizon=52.0, steps=4)
    expected = purchases.expected_purchases(52.0, *args[:3]) * spend.expected_spend(
        args[0], args[3]
    )
    assert value == pytest.approx(expected)
    discounted = clv(purchases, spend, *args, horizon=52.0, steps=4, discount_rate=0.1)
    assert np.all(discounted < value)
