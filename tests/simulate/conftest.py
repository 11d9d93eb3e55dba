"""Simulated shops shared by the simulator tests (built once per session: they are pure data)."""

from __future__ import annotations

from datetime import date

import pytest

from shopwise.simulate import SimulatedShop, SimulationConfig, simulate


@pytest.fixture(scope="session")
def quick_shop() -> SimulatedShop:
    return simulate(SimulationConfig.quick(seed=7))


@pytest.fixture(scope="session")
def medium_shop() -> SimulatedShop:
    """Four weeks starting on a Monday with a one-week sale in week three."""
    config = SimulationConfig(
        seed=11,
        n_products=400,
        n_customers=1500,
        days=28,
        start=date(2026, 9, 7),
        sale_start_day=14,
        sale_days=7,
    )
    return simulate(config)
