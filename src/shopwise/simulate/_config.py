"""Configuration of the demo shop simulator.

:class:`SimulationConfig` fixes everything the simulator draws from: the seed, the size of the
catalog and the customer base, the simulated period and its sale window. The same config always
produces the same shop, which is what makes the simulated data usable as a test fixture.
"""

from __future__ import annotations

from datetime import date
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SimulationConfig(BaseModel):
    """Parameters of one simulated shop.

    The defaults describe the full demo (about 2,000 products, 5,000 customers, 90 days);
    :meth:`quick` gives a small shop for tests. Day offsets count from ``start`` (day 0).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(default=0, ge=0)
    """Seed of the one random generator everything is drawn from."""
    n_products: int = Field(default=2000, ge=10, le=200_000)
    """Number of products in the catalog."""
    n_customers: int = Field(default=5000, ge=1, le=1_000_000)
    """Number of customers (each one a ``user_id`` with one or more devices)."""
    days: int = Field(default=90, ge=1, le=3650)
    """Length of the simulated period in days."""
    start: date = date(2026, 8, 3)
    """First simulated day (UTC). Fixed, so a seed always gives the same shop; a demo that wants
    data ending today passes ``start=date.today() - timedelta(days=days)``."""
    sale_start_day: int | None = Field(default=63, ge=0)
    """Day offset of the first sale day, or ``None`` for no sale."""
    sale_days: int = Field(default=7, ge=1)
    """Length of the sale window in days."""
    sale_share: float = Field(default=0.35, ge=0.0, le=1.0)
    """Share of products marked down during the sale."""
    traffic_scale: float = Field(default=1.0, gt=0.0, le=100.0)
    """Multiplier on every customer's visit rate."""
    refund_rate: float = Field(default=0.06, ge=0.0, le=1.0)
    """Probability that an order is refunded a few days later."""
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    """Currency of every price and order."""
    site_url: str = "https://demo.shopwise.local"
    """Base URL used for page URLs, image URLs and email links."""

    @model_validator(mode="after")
    def _sale_inside_period(self) -> Self:
        if self.sale_start_day is not None and self.sale_start_day + self.sale_days > self.days:
            msg = "the sale window must end within the simulated period"
            raise ValueError(msg)
        return self

    @classmethod
    def quick(cls, seed: int = 0) -> SimulationConfig:
        """A small shop for tests: 200 products, 500 customers, 14 days with a 3-day sale.

        Parameters
        ----------
        seed
            Seed of the simulation.

        Returns
        -------
        SimulationConfig
            The quick preset.
        """
        return cls(
            seed=seed, n_products=200, n_customers=500, days=14, sale_start_day=9, sale_days=3
        )

    def is_sale_day(self, day: int) -> bool:
        """Whether day offset ``day`` falls inside the sale window."""
        if self.sale_start_day is None:
            return False
        return self.sale_start_day <= day < self.sale_start_day + self.sale_days
