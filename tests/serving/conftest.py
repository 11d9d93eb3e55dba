"""A small trained shop for serving tests: catalog, behaviour, and a transition model."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shopwise.api import create_app
from shopwise.auth import KeyKind
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.worker import train_recommenders

CATEGORIES = {"k": ["Home", "Kitchen"], "g": ["Home", "Garden"], "t": ["Toys"]}


def product_rows() -> list[dict[str, Any]]:
    rows = []
    for prefix, path in CATEGORIES.items():
        for i in range(8):
            rows.append(
                {
                    "id": f"{prefix}{i}",
                    "title": f"{path[-1]} item {i}",
                    "category": path,
                    "brand": "Acme" if i % 2 else "Zed",
                    "price": 10.0 + i,
                    "stock": 5,
                    "created_at": "2026-01-01T00:00:00Z",
                }
            )
    return rows


def event(event_type: str, anon: str, when: datetime, **props: Any) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4().hex,
        "type": event_type,
        "anonymous_id": anon,
        "timestamp": when.isoformat(),
        "properties": props,
    }


def journeys() -> list[dict[str, Any]]:
    """Shoppers who browse k0 -> k1 -> k2 ... within a category (strong transitions)."""
    start = datetime(2026, 2, 1, tzinfo=UTC)
    rows = []
    for shopper in range(40):
        prefix = "kgt"[shopper % 3]
        for step in range(6):
            when = start + timedelta(days=shopper % 10, minutes=step)
            rows.append(event("product_viewed", f"s{shopper}", when, product_id=f"{prefix}{step}"))
    return rows


@pytest.fixture
def shop(tmp_path: Any) -> Iterator[tuple[TestClient, Runtime, dict[str, dict[str, str]]]]:
    settings = Settings(data_dir=tmp_path / "var", log_level="WARNING")
    runtime = Runtime.build(settings, migrate=True)
    with TestClient(create_app(settings, runtime)) as client:
        runtime.catalog.upsert(product_rows())
        batch = journeys()
        last = 0
        for start in range(0, len(batch), 200):
            result = runtime.collector.ingest(batch[start : start + 200])
            assert not result.rejected
            last = result.last_event_id
        assert runtime.bus.wait_until_consumed(last, timeout=60)
        train_recommenders(runtime, "transition", lambda _m: None)
        keys = {
            kind.value: {"Authorization": f"Bearer {runtime.keys.create(kind)[1]}"}
            for kind in KeyKind
        }
        yield client, runtime, keys
