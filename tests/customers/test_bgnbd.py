from __future__ import annotations

import math

import numpy as np
import pytest

from shopwise.customers.clv import BetaGeoModel, BetaGeoParams, bgnbd_log_likelihood, fit_bgnbd

PUBLISHED = BetaGeoParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def _beta(x: float, y: float) -> float:
    return math.gamma(x) * math.gamma(y) / math.gamma(x + y)


def _likelihood_by_hand(p: BetaGeoParams, x: int, t_x: float, age: float) -> float:
    """Equation (6) of Fader, Hardie and Lee (2005), written with beta functions."""
    common = math.gamma(p.r + x) * p.alpha**p.r / math.gamma(p.r)
    first = _beta(p.a, p.b + x) / _beta(p.a, p.b) * common / (p.alpha + age) ** (p.r + x)
    second = 0.0
    if x > 0:
        second = _beta(p.a + 1, p.b + x - 1) / _beta(p.a, p.b) * common
        second /= (p.alpha + t_x) ** (p.r + x)
    return first + second


@pytest.mark.parametrize(
    ("x", "t_x", "age"), [(0, 0.0, 38.86), (2, 30.43, 38.86), (7, 36.71, 38.86)]
)
def test_log_likelihood_matches_hand_computation(x: int, t_x: float, age: float) -> None:
    ll = bgnbd_log_likelihood(PUBLISHED, [x], [t_x], [age])[0]
    assert ll == pytest.approx(math.log(_likelihood_by_hand(PUBLISHED, x, t_x, age)), rel=1e-10)


def test_log_likelihood_of_a_non_repeater_is_closed_form() -> None:
    ll = bgnbd_log_likelihood(PUBLISHED, [0], [0.0], [38.86])[0]
    assert ll == pytest.approx(0.243 * math.log(4.414 / (4.414 + 38.86)))


def _simulate(
    rng: np.random.Generator, params: BetaGeoParams, n: int, age: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rates = rng.gamma(params.r, 1 / params.alpha, n)
    drops = rng.beta(params.a, params.b, n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    for i in range(n):
        now = 0.0
        while True:
            now += rng.exponential(1 / rates[i])
            if now > age:
                break
            x[i] += 1
            t_x[i] = now
            if rng.random() < drops[i]:
                break
    return x, t_x, np.full(n, age)


def test_fit_recovers_simulated_parameters() -> None:
    truth = BetaGeoParams(r=0.8, alpha=6.0, a=0.7, b=2.5)
    x, t_x, age = _simulate(np.random.default_rng(7), truth, 6000, 52.0)
    model = fit_bgnbd(x, t_x, age)
    fitted = model.params.as_array()
    assert fitted == pytest.approx(truth.as_array(), rel=0.25)
    assert model.converged
    # the fitted model fits its own data at least as well as the truth
    assert model.log_likelihood >= bgnbd_log_likelihood(truth, x, t_x, age).sum() - 1e-6


def test_predictions_known_identities() -> None:
    model = BetaGeoModel(PUBLISHED, 0.0, 1, True)
    # a customer with no repeat purchase is certainly alive under BG/NBD
    assert model.p_alive([0], [0.0], [30.0])[0] == 1.0
    # a brand-new customer (T = 0) expects what the unconditional model expects
    conditional = model.expected_purchases(26.0, [0], [0.0], [0.0])[0]
    assert conditional == pytest.approx(model.expected_purchases_new([26.0])[0], rel=1e-9)
    # later last purchase -> more likely alive -> more expected purchases
    early, late = model.expected_purchases(39.0, [3, 3], [5.0, 35.0], [38.0, 38.0])
    assert late > early
    alive = model.p_alive([3, 3], [5.0, 35.0], [38.0, 38.0])
    assert 0 < alive[0] < alive[1] < 1


def test_fit_rejects_inconsistent_summaries() -> None:
    with pytest.raises(ValueError, match="recency"):
        fit_bgnbd([1], [10.0], [5.0])
