"""The demo shop loaded through the collector and catalog once per test module, and trained."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shopwise.auth import KeyKind
from shopwise.customers import CustomerIntelligence, CustomerModelsConfig
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.simulate import SimulatedShop, SimulationConfig, load, simulate

QUICK_CONFIG = CustomerModelsConfig(cutoff_step_days=1.0, gbm_horizon_days=7.0)
"""Daily cutoffs and a 7-day GBM horizon: the quick shop has only 14 days of history."""


@dataclass
class TrainedShop:
    """A migrated runtime holding the quick demo shop, with every customer model trained."""

    runtime: Runtime
    shop: SimulatedShop
    service: CustomerIntelligence
    training: dict[str, object]
    keys: dict[KeyKind, dict[str, str]]


@pytest.fixture(scope="module")
def trained_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainedShop]:
    data_dir: Path = tmp_path_factory.mktemp("intelligence") / "var"
    settings = Settings(data_dir=data_dir, log_level="WARNING")
    runtime = Runtime.build(settings, migrate=True)
    runtime.start()
    try:
        shop = simulate(SimulationConfig.quick())
        loaded = load(shop, runtime.collector.ingest, runtime.catalog.upsert)
        last = max(getattr(answer, "last_event_id", 0) for answer in loaded.responses)
        assert runtime.bus.wait_until_consumed(last, timeout=120)
        service = CustomerIntelligence.build(
            runtime.engine,
            runtime.profiles,
            settings.models_dir,
            policy=runtime.consent,
            cipher=runtime.cipher,
            item_info=runtime.catalog.item_info,
            config=QUICK_CONFIG,
        )
        training = service.retrain()
        keys = {
            kind: {"Authorization": f"Bearer {runtime.keys.create(kind)[1]}"} for kind in KeyKind
        }
        yield TrainedShop(runtime, shop, service, training, keys)
    finally:
        runtime.stop()
