"""BG/NBD: the beta-geometric/NBD model of repeat purchasing (Fader, Hardie and Lee 2005).

While alive, a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; after
each purchase they drop out with probability ``p ~ Beta(a, b)``. It is fitted by maximum likelihood
on ``(frequency, recency, T)`` with scipy, over the logarithms of the four parameters, and gives the
expected number of purchases in a future horizon and the probability a customer is still alive. The
formulas are equations (6), (10) and (11) of "Counting your customers the easy way" and the
conditional expectation in Fader and Hardie's note "Computing P(alive) using the BG/NBD model".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy import optimize, special

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike


class BetaGeoConfig(BaseModel):
    """Settings of the BG/NBD maximum-likelihood fit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    penalizer: float = Field(default=0.0, ge=0)
    """L2 penalty on the parameters (0 reproduces the published estimates)."""
    initial: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    """Starting values of ``(r, alpha, a, b)``."""
    max_iter: int = Field(default=5000, gt=0)
    """Iteration cap of the optimiser."""


@dataclass(frozen=True)
class BetaGeoParams:
    """Fitted BG/NBD parameters: purchase rate ``Gamma(r, alpha)``, dropout ``Beta(a, b)``."""

    r: float
    alpha: float
    a: float
    b: float

    def as_array(self) -> FloatArray:
        """The parameters as ``[r, alpha, a, b]``."""
        return np.array([self.r, self.alpha, self.a, self.b], dtype=np.float64)


def _arrays(*values: ArrayLike) -> tuple[FloatArray, ...]:
    return tuple(np.asarray(value, dtype=np.float64) for value in values)


def bgnbd_log_likelihood(
    params: BetaGeoParams, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> FloatArray:
    """Log-likelihood of each customer's ``(x, t_x, T)`` under BG/NBD (FHL 2005, eq. 6).

    Parameters
    ----------
    params
        Model parameters.
    frequency, recency, age
        Repeat purchases ``x``, time of the last purchase ``t_x`` and age ``T``, one per customer.

    Returns
    -------
    numpy.ndarray
        One log-likelihood per customer.
    """
    x, t_x, t_age = _arrays(frequency, recency, age)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b)
    a3 = -(r + x) * np.log(alpha + t_age)
    repeat = x > 0
    a4 = np.full_like(x, -np.inf)
    a4[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    ll: FloatArray = a1 + a2 + np.logaddexp(a3, a4)
    return ll


@dataclass(frozen=True)
class BetaGeoModel:
    """A fitted BG/NBD model and its fit diagnostics."""

    params: BetaGeoParams
    log_likelihood: float
    n_customers: int
    converged: bool

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike) -> FloatArray:
        """Probability each customer is still active at the end of calibration."""
        x, t_x, t_age = _arrays(frequency, recency, age)
        p = self.params
        odds = np.zeros_like(x)
        repeat = x > 0
        odds[repeat] = (
            p.a
            / (p.b + x[repeat] - 1)
            * ((p.alpha + t_age[repeat]) / (p.alpha + t_x[repeat])) ** (p.r + x[repeat])
        )
        alive: FloatArray = 1.0 / (1.0 + odds)
        return alive

    def expected_purchases(
        self, horizon: float, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
    ) -> FloatArray:
        """Expected purchases in the next ``horizon`` time units given each history (FHL eq. 10).

        Parameters
        ----------
        horizon
            Length of the future period, in the unit of the summary.
        frequency, recency, age
            The calibration summary of each customer.

        Returns
        -------
        numpy.ndarray
            Conditional expectation per customer.
        """
        x, t_x, t_age = _arrays(frequency, recency, age)
        p = self.params
        ratio = (p.alpha + t_age) / (p.alpha + t_age + horizon)
        hyper = special.hyp2f1(
            p.r + x, p.b + x, p.a + p.b + x - 1, horizon / (p.alpha + t_age + horizon)
        )
        numerator = (p.a + p.b + x - 1) / (p.a - 1) * (1 - ratio ** (p.r + x) * hyper)
        odds = np.zeros_like(x)
        repeat = x > 0
        odds[repeat] = (
            p.a
            / (p.b + x[repeat] - 1)
            * ((p.alpha + t_age[repeat]) / (p.alpha + t_x[repeat])) ** (p.r + x[repeat])
        )
        expected: FloatArray = numerator / (1 + odds)
        return expected

    def expected_purchases_new(self, horizon: ArrayLike) -> FloatArray:
        """Expected purchases of a new customer in ``(0, horizon]`` (FHL eq. 9)."""
        (t,) = _arrays(horizon)
        p = self.params
        hyper = special.hyp2f1(p.r, p.b, p.a + p.b - 1, t / (p.alpha + t))
        expected: FloatArray = (
            (p.a + p.b - 1) / (p.a - 1) * (1 - (p.alpha / (p.alpha + t)) ** p.r * hyper)
        )
        return expected


def fit_bgnbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    age: ArrayLike,
    config: BetaGeoConfig | None = None,
) -> BetaGeoModel:
    """Maximum-likelihood BG/NBD fit.

    Identical summaries are collapsed and weighted, so the cost grows with the number of distinct
    ``(x, t_x, T)`` rows rather than customers.

    Parameters
    ----------
    frequency, recency, age
        Calibration summary per customer (see :func:`shopwise.customers.clv.rfm_summary`).
    config
        Fit settings.

    Returns
    -------
    BetaGeoModel
        Parameters, total log-likelihood and whether the optimiser converged.
    """
    cfg = config or BetaGeoConfig()
    x, t_x, t_age = _arrays(frequency, recency, age)
    if np.any(x < 0) or np.any(t_x > t_age + 1e-9) or np.any((x == 0) & (t_x != 0)):
        raise ValueError("need frequency >= 0, recency <= T, and recency 0 without repeats")
    rows, weights = np.unique(np.column_stack([x, t_x, t_age]), axis=0, return_counts=True)

    def objective(log_params: FloatArray) -> float:
        params = BetaGeoParams(*np.exp(log_params))
        ll = bgnbd_log_likelihood(params, rows[:, 0], rows[:, 1], rows[:, 2])
        penalty = cfg.penalizer * float(np.sum(np.exp(log_params) ** 2))
        return float(-(weights @ ll) / weights.sum() + penalty)

    start = np.log(np.asarray(cfg.initial, dtype=np.float64))
    result = optimize.minimize(
        objective,
        start,
        method="Nelder-Mead",
        options={"maxiter": cfg.max_iter, "xatol": 1e-10, "fatol": 1e-12},
    )
    polished = optimize.minimize(objective, result.x, method="BFGS", options={"gtol": 1e-9})
    best = polished if polished.fun <= result.fun else result
    params = BetaGeoParams(*(float(value) for value in np.exp(best.x)))
    total = float(np.sum(bgnbd_log_likelihood(params, x, t_x, t_age)))
    return BetaGeoModel(params, total, int(x.size), bool(result.success))
