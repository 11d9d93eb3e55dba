"""Gamma-Gamma model of spend per transaction (Fader, Hardie and Lee 2005; Fader and Hardie 2013).

A customer's transaction values are gamma distributed with shape ``p`` around a customer-level
scale ``nu ~ Gamma(q, v)``. Only the number of repeat transactions ``x`` and their mean ``zbar``
are needed. The fit maximises the likelihood of ``zbar`` given ``x`` (equation (3) of the 2013 note
"The Gamma-Gamma model of monetary value") over log parameters; the conditional expected spend is
equation (5). Combined with BG/NBD it gives the expected spend over a horizon (:func:`clv`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy import optimize, special

from shopwise.customers.clv._bgnbd import BetaGeoModel

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike


class GammaGammaConfig(BaseModel):
    """Settings of the Gamma-Gamma maximum-likelihood fit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    penalizer: float = Field(default=0.0, ge=0)
    """L2 penalty on the parameters (0 reproduces the published estimates)."""
    initial: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Starting values of ``(p, q, v)``."""
    max_iter: int = Field(default=5000, gt=0)
    """Iteration cap of the optimiser."""


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters."""

    p: float
    q: float
    v: float


def gamma_gamma_log_likelihood(
    params: GammaGammaParams, frequency: ArrayLike, monetary: ArrayLike
) -> FloatArray:
    """Log-likelihood of each repeat buyer's mean spend ``zbar`` given ``x`` transactions.

    Parameters
    ----------
    params
        Model parameters.
    frequency
        Repeat transactions ``x`` (all > 0).
    monetary
        Mean value ``zbar`` of those transactions (all > 0).

    Returns
    -------
    numpy.ndarray
        One log-likelihood per customer.
    """
    x = np.asarray(frequency, dtype=np.float64)
    z = np.asarray(monetary, dtype=np.float64)
    p, q, v = params.p, params.q, params.v
    ll: FloatArray = (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(z)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * z + v)
    )
    return ll


@dataclass(frozen=True)
class GammaGammaModel:
    """A fitted Gamma-Gamma model."""

    params: GammaGammaParams
    log_likelihood: float
    n_customers: int
    converged: bool

    def expected_spend(self, frequency: ArrayLike, monetary: ArrayLike) -> FloatArray:
        """Conditional expected value of a future transaction (2013 note, eq. 5).

        Customers without repeat purchases get the population mean ``p v / (q - 1)``.
        """
        x = np.asarray(frequency, dtype=np.float64)
        z = np.asarray(monetary, dtype=np.float64)
        p, q, v = self.params.p, self.params.q, self.params.v
        spend: FloatArray = p * (v + x * z) / (p * x + q - 1)
        return spend


def fit_gamma_gamma(
    frequency: ArrayLike, monetary: ArrayLike, config: GammaGammaConfig | None = None
) -> GammaGammaModel:
    """Maximum-likelihood Gamma-Gamma fit on repeat buyers.

    Parameters
    ----------
    frequency
        Repeat transactions per customer; customers with 0 are left out of the fit.
    monetary
        Mean repeat transaction value per customer.
    config
        Fit settings.

    Returns
    -------
    GammaGammaModel
        Parameters, total log-likelihood over the repeat buyers and convergence.
    """
    cfg = config or GammaGammaConfig()
    x = np.asarray(frequency, dtype=np.float64)
    z = np.asarray(monetary, dtype=np.float64)
    keep = (x > 0) & (z > 0)
    x, z = x[keep], z[keep]
    if x.size == 0:
        raise ValueError("Gamma-Gamma needs at least one repeat buyer with positive spend")

    def objective(log_params: FloatArray) -> float:
        params = GammaGammaParams(*np.exp(log_params))
        penalty = cfg.penalizer * float(np.sum(np.exp(log_params) ** 2))
        return float(-np.mean(gamma_gamma_log_likelihood(params, x, z)) + penalty)

    start = np.log(np.asarray(cfg.initial, dtype=np.float64))
    result = optimize.minimize(
        objective,
        start,
        method="Nelder-Mead",
        options={"maxiter": cfg.max_iter, "xatol": 1e-10, "fatol": 1e-12},
    )
    polished = optimize.minimize(objective, result.x, method="BFGS", options={"gtol": 1e-9})
    best = polished if polished.fun <= result.fun else result
    params = GammaGammaParams(*(float(value) for value in np.exp(best.x)))
    total = float(np.sum(gamma_gamma_log_likelihood(params, x, z)))
    return GammaGammaModel(params, total, int(x.size), bool(result.success))


def clv(
    purchases: BetaGeoModel,
    spend: GammaGammaModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    age: ArrayLike,
    monetary: ArrayLike,
    *,
    horizon: float,
    steps: int = 12,
    discount_rate: float = 0.0,
) -> FloatArray:
    """Expected (optionally discounted) spend of each customer over the next ``horizon``.

    The horizon is cut into ``steps`` equal periods; the purchases BG/NBD expects in period ``k``
    are valued at the Gamma-Gamma expected spend and discounted by ``(1 + discount_rate) ** k``.

    Parameters
    ----------
    purchases, spend
        Fitted BG/NBD and Gamma-Gamma models.
    frequency, recency, age, monetary
        Calibration summary per customer.
    horizon
        Future period in the summary's time unit.
    steps
        Number of discounting periods.
    discount_rate
        Discount rate per period (0: undiscounted).

    Returns
    -------
    numpy.ndarray
        Expected value per customer.
    """
    value = spend.expected_spend(frequency, monetary)
    total = np.zeros_like(value)
    previous = np.zeros_like(value)
    for k in range(1, steps + 1):
        cumulative = purchases.expected_purchases(horizon * k / steps, frequency, recency, age)
        total += (cumulative - previous) * value / (1.0 + discount_rate) ** k
        previous = cumulative
    return total
