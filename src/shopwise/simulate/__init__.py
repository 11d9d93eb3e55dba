"""The demo shop simulator: a believable shop with catalog, customers and months of sessions.

``simulate(SimulationConfig())`` builds a seeded, reproducible shop (catalog rows, time-sorted
event envelopes and the ground truth behind them); ``load`` pushes it through the catalog and
ingestion services. ``shopwise simulate`` and ``shopwise demo`` use it, and tests use
``SimulationConfig.quick()`` for a small shop in a couple of seconds. :class:`TrafficSimulator`
closes the loop: the shop's shoppers browse a running shopwise over HTTP and click, add and buy
what it shows them by their hidden tastes (``shopwise simulate traffic``).
"""

from shopwise.simulate._choice import Storefront
from shopwise.simulate._closed_loop import TrafficSimulator
from shopwise.simulate._config import SimulationConfig
from shopwise.simulate._customers import CustomerTruth, CustomerType
from shopwise.simulate._loop_summary import TrafficSummary, VariantSummary
from shopwise.simulate._shop import (
    BATCH_SIZE,
    Loadable,
    LoadResult,
    ShopTruth,
    SimulatedShop,
    load,
    simulate,
)
from shopwise.simulate._summary import summarize
from shopwise.simulate._vocab import CATEGORY_SEPARATOR, COMPLEMENT_PAIRS, DEPARTMENTS

__all__ = [
    "BATCH_SIZE",
    "CATEGORY_SEPARATOR",
    "COMPLEMENT_PAIRS",
    "DEPARTMENTS",
    "CustomerTruth",
    "CustomerType",
    "LoadResult",
    "Loadable",
    "ShopTruth",
    "SimulatedShop",
    "SimulationConfig",
    "Storefront",
    "TrafficSimulator",
    "TrafficSummary",
    "VariantSummary",
    "load",
    "simulate",
    "summarize",
]
