"""Regression (issue 22): exposures served for a lapsed customer made them look active.

Three email-placement requests for a customer last seen months ago logged three
``recommendation_viewed`` rows (shopwise's own records, no key), which the customer features read
as the customer's activity: ``days_since_event`` went to zero and the event counts grew.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.serving.conftest import event

from shopwise import store
from shopwise.api import create_app
from shopwise.auth import KeyKind
from shopwise.customers.segments import CART_ABANDONERS_3D, LAPSED_VIPS, memberships
from shopwise.features import customer_features, store_frames
from shopwise.privacy import ConsentedEvents
from shopwise.runtime import Runtime
from shopwise.schema import EventType, Purpose
from shopwise.settings import Settings

LAPSED = "lapsed-1"
MONTHS_AGO = datetime.now(UTC) - timedelta(days=200)


def _history() -> list[dict[str, Any]]:
    line = {"product_id": "p1", "price": 60.0, "quantity": 2}
    order = {"order_id": "o-1", "revenue": 120.0, "currency": "EUR", "products": [line]}
    return [
        event(EventType.PRODUCT_VIEWED, LAPSED, MONTHS_AGO, product_id="p1"),
        event(EventType.PRODUCT_ADDED, LAPSED, MONTHS_AGO + timedelta(minutes=1), product_id="p1"),
        event(EventType.ORDER_COMPLETED, LAPSED, MONTHS_AGO + timedelta(minutes=2), **order),
        event(EventType.PRODUCT_VIEWED, "active-1", datetime.now(UTC), product_id="p2"),
    ]


@pytest.fixture
def shop(tmp_path: Any) -> Iterator[tuple[TestClient, Runtime]]:
    settings = Settings(data_dir=tmp_path / "var", log_level="WARNING")
    runtime = Runtime.build(settings, migrate=True)
    with TestClient(create_app(settings, runtime)) as client:
        runtime.catalog.upsert(
            [
                {"id": pid, "title": pid, "category": ["Home"], "price": 60.0, "stock": 5}
                for pid in ("p1", "p2", "p3")
            ]
        )
        result = runtime.collector.ingest(_history())
        assert not result.rejected
        assert runtime.bus.wait_until_consumed(result.last_event_id, timeout=60)
        yield client, runtime


def _features(runtime: Runtime, as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames = store_frames(runtime.engine, runtime.consent)
    features = customer_features(frames.events, frames.orders, as_of)
    return features, memberships(features, (CART_ABANDONERS_3D, LAPSED_VIPS))


def _exposures(runtime: Runtime) -> int:
    query = sa.select(sa.func.count()).where(
        store.events.c.type == EventType.RECOMMENDATION_VIEWED,
        store.events.c.anonymous_id == LAPSED,
    )
    with runtime.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_exposures_leave_a_lapsed_customers_features_segments_and_profile_as_they_were(
    shop: tuple[TestClient, Runtime],
) -> None:
    client, runtime = shop
    as_of = pd.Timestamp(datetime.now(UTC) + timedelta(hours=1))
    features_before, segments_before = _features(runtime, as_of)
    profile_before = runtime.profiles.get(LAPSED)
    assert profile_before is not None
    write = {"Authorization": f"Bearer {runtime.keys.create(KeyKind.WRITE)[1]}"}
    for n in (3, 4, 5):  # three distinct email placements, none from the answer cache
        served = client.get(
            "/v1/recommendations",
            params={"placement": "email", "anonymous_id": LAPSED, "n": n},
            headers=write,
        )
        assert served.status_code == 200, served.text
    runtime.exposures.flush()
    for _ in range(250):
        if _exposures(runtime) == 3:
            break
        time.sleep(0.02)
    assert _exposures(runtime) == 3  # the exposures are stored: the test would see them

    features_after, segments_after = _features(runtime, as_of)
    pd.testing.assert_frame_equal(features_after, features_before)
    pd.testing.assert_frame_equal(segments_after, segments_before)
    lapsed = runtime.profiles.canonical(LAPSED)
    assert lapsed is not None
    row = features_after.loc[lapsed]
    assert row["days_since_event"] > 150
    assert row["recency_days"] > 150
    profile_after = runtime.profiles.get(LAPSED)
    assert profile_after is not None
    assert profile_after.public()["last_seen"] == profile_before.public()["last_seen"]
    assert profile_after.state == profile_before.state
    read = ConsentedEvents(runtime.engine, runtime.consent, Purpose.ANALYTICS)
    assert {event.type for event in read} == set(EventType) & {e["type"] for e in _history()}
