"""Predictive bid multipliers per audience for ad platforms.

The value of showing an ad to a member of an audience is the audience's mean of conversion
probability times expected order value. The multiplier is that value over the value of the whole
population, clipped to configured bounds so a small or noisy audience never bids wildly; each row
carries a sentence that says how its number came about.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator


class BidConfig(BaseModel):
    """Bounds of bid multipliers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_multiplier: float = Field(default=0.5, gt=0)
    """Lowest multiplier exported."""
    max_multiplier: float = Field(default=2.0, gt=0)
    """Highest multiplier exported."""
    min_customers: int = Field(default=20, ge=1)
    """Audiences smaller than this get multiplier 1 (too few to trust)."""

    @model_validator(mode="after")
    def _ordered(self) -> BidConfig:
        if self.min_multiplier > self.max_multiplier:
            raise ValueError("min_multiplier must not exceed max_multiplier")
        return self


def bid_multipliers(
    audience: pd.Series,
    conversion: pd.Series,
    order_value: pd.Series,
    config: BidConfig | None = None,
) -> pd.DataFrame:
    """Bounded, explained bid multiplier of each audience.

    Parameters
    ----------
    audience
        Audience name per profile id.
    conversion
        Calibrated conversion probability per profile id.
    order_value
        Expected order value per profile id (for example the Gamma-Gamma spend).
    config
        Bounds.

    Returns
    -------
    pandas.DataFrame
        Indexed by audience: ``customers``, ``conversion``, ``order_value``, ``expected_value``
        (mean of the products), ``raw_multiplier``, ``multiplier`` and ``explanation``.
    """
    cfg = config or BidConfig()
    frame = pd.DataFrame(
        {"audience": audience, "conversion": conversion, "order_value": order_value}
    ).dropna()
    frame["expected_value"] = frame["conversion"] * frame["order_value"]
    overall = float(frame["expected_value"].mean())
    table = frame.groupby("audience").agg(
        customers=("conversion", "size"),
        conversion=("conversion", "mean"),
        order_value=("order_value", "mean"),
        expected_value=("expected_value", "mean"),
    )
    raw = table["expected_value"] / overall if overall > 0 else pd.Series(1.0, index=table.index)
    small = table["customers"] < cfg.min_customers
    table["raw_multiplier"] = raw
    table["multiplier"] = np.where(
        small, 1.0, raw.clip(cfg.min_multiplier, cfg.max_multiplier)
    ).round(2)
    table["explanation"] = [
        _explain(row, overall, cfg, bool(is_small))
        for row, is_small in zip(table.itertuples(), small, strict=True)
    ]
    return table


def _explain(row: object, overall: float, cfg: BidConfig, small: bool) -> str:
    customers = int(getattr(row, "customers"))  # noqa: B009 (itertuples fields are dynamic)
    conversion = float(getattr(row, "conversion"))  # noqa: B009
    order_value = float(getattr(row, "order_value"))  # noqa: B009
    expected = float(getattr(row, "expected_value"))  # noqa: B009
    raw = float(getattr(row, "raw_multiplier"))  # noqa: B009
    text = (
        f"{customers} customers: conversion {conversion:.1%} x order value {order_value:.2f}"
        f" = {expected:.2f} per customer vs {overall:.2f} overall (x{raw:.2f})"
    )
    if small:
        return text + f"; fewer than {cfg.min_customers} customers, kept at x1.00"
    if raw > cfg.max_multiplier:
        return text + f"; capped at x{cfg.max_multiplier:.2f}"
    if raw < cfg.min_multiplier:
        return text + f"; floored at x{cfg.min_multiplier:.2f}"
    return text
