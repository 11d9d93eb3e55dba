"""Event factories for the collection tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.store.conftest import backend_settings, engine  # noqa: F401

EventFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def make_event() -> EventFactory:
    def factory(
        event_type: str = "product_viewed",
        properties: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "message_id": uuid.uuid4().hex,
            "type": event_type,
            "anonymous_id": "anon-1",
            "timestamp": datetime.now(UTC).isoformat(),
            "properties": {"product_id": "p1"} if properties is None else properties,
        }
        event.update(fields)
        return {k: v for k, v in event.items() if v is not None}

    return factory
