"""The service's small parts: rolling cutoffs, behaviour without models, its public names."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

import shopwise.customers as customers
from shopwise.customers import CustomerModelsConfig, rolling_cutoffs
from shopwise.errors import ModelNotTrained, NotEnoughData
from shopwise.runtime import Runtime

FIRST = pd.Timestamp("2026-01-01", tz="UTC")


def test_public_names_exist() -> None:
    assert all(hasattr(customers, name) for name in customers.__all__)
    config = CustomerModelsConfig(cutoff_step_days=2.0)
    assert CustomerModelsConfig.model_validate(config.model_dump()) == config


def test_rolling_cutoffs_close_their_windows_by_the_last_event() -> None:
    config = CustomerModelsConfig(cutoff_step_days=7.0, max_cutoffs=3, min_history_days=1.0)
    last = FIRST + pd.Timedelta(days=60)
    cutoffs = rolling_cutoffs(FIRST, last, 7.0, config)
    assert cutoffs == [last - pd.Timedelta(days=7 + 7 * k) for k in range(3)]
    everything = CustomerModelsConfig(cutoff_step_days=7.0, max_cutoffs=100)
    longest = rolling_cutoffs(FIRST, last, 30.0, everything)
    assert min(longest) >= FIRST + pd.Timedelta(days=1) and len(longest) == 5
    assert rolling_cutoffs(FIRST, FIRST + pd.Timedelta(days=20), 90.0, config) == []


def test_without_models_refresh_stores_nothing_and_exports_refuse(runtime: Runtime) -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    events = [
        {
            "message_id": uuid.uuid4().hex,
            "type": "page_viewed",
            "user_id": f"u{i}",
            "timestamp": (start + timedelta(hours=i)).isoformat(),
        }
        for i in range(5)
    ]
    result = runtime.collector.ingest(events)
    assert runtime.bus.wait_until_consumed(result.last_event_id, timeout=30)
    service = runtime.customers
    assert service.scores.refresh(service.frames())["scores"] == 0
    assert service.scores.scores_of("u1") == {}
    assert service.scores.profile_scores("u1") == {
        "profile_id": runtime.profiles.canonical("u1"),
        "scores": {},
        "segment": None,
        "audiences": [],
        "as_of": None,
        "scored_at": None,
        "model_versions": [],
    }
    assert service.scores.profile_scores("nobody") is None
    with pytest.raises(ModelNotTrained):
        service.audiences.lookalikes(service.frames(), io.StringIO())
    with pytest.raises(NotEnoughData, match="no consented orders"):
        service.trainer.train_clv(service.frames())
    with pytest.raises(NotEnoughData, match="no propensity label"):
        service.trainer.train_propensity(service.frames())
