"""The real ``segment-analytics-python`` and ``rudder-sdk-python`` SDKs against ``shopwise serve``.

Each SDK, unmodified and configured only through its ``host`` option, sends a short shopping
journey through a proxy that loses the answer to the first batch, so the SDK retries a batch the
server has already committed. The journey must land mapped, stitched onto one profile, and once.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import pytest
from tests.compat.conftest import LiveServer, LossyProxy

SDK_MODULES = {"segment": "segment.analytics", "rudderstack": "rudderstack.analytics"}
SDK_PACKAGES = {"segment": "segment-analytics-python", "rudderstack": "rudder-sdk-python"}


class Sdk(Protocol):
    """What the two Python SDKs' ``Client`` classes have in common (and all this test uses)."""

    def page(self, **kwargs: Any) -> Any: ...
    def track(self, **kwargs: Any) -> Any: ...
    def identify(self, **kwargs: Any) -> Any: ...
    def alias(self, **kwargs: Any) -> Any: ...
    def flush(self) -> None: ...
    def join(self) -> None: ...


def _client(name: str, write_key: str, host: str, errors: list[Any]) -> Sdk:
    def on_error(error: Any, batch: Any) -> None:
        errors.append((error, batch))

    module = pytest.importorskip(
        SDK_MODULES[name], reason=f"{SDK_PACKAGES[name]} is not installed (pip install it)"
    )
    client: Sdk = module.Client(write_key, host=host, on_error=on_error, max_retries=3)
    return client


def _journey(sdk: Sdk, prefix: str) -> tuple[str, str, str]:
    anon, device, user = f"{prefix}-anon", f"{prefix}-device2", f"{prefix}-user"
    sdk.page(anonymous_id=anon, name="Home", properties={"url": "https://shop.example/"})
    sdk.track(
        anonymous_id=anon,
        event="Product Viewed",
        properties={"product_id": "p-1", "price": 20.0, "category": "shoes"},
    )
    sdk.track(
        anonymous_id=anon,
        event="Product Added",
        properties={"sku": "p-1", "quantity": 2, "price": 20.0},
    )
    sdk.identify(
        user_id=user,
        anonymous_id=anon,
        traits={"email": f"{prefix}@example.com", "firstName": "Ada"},
    )
    sdk.track(
        user_id=user,
        event="Order Completed",
        properties={
            "order_id": f"{prefix}-o1",
            "total": 40.0,
            "currency": "EUR",
            "products": [{"product_id": "p-1", "quantity": 2, "price": 20.0}],
        },
        context={"consent": {"categoryPreferences": {"Analytics": True, "Advertising": False}}},
    )
    sdk.page(anonymous_id=device, name="Cart")
    sdk.alias(previous_id=device, user_id=user)
    return anon, device, user


EXPECTED_TYPES = [
    "page_viewed",
    "product_viewed",
    "product_added",
    "identify",
    "order_completed",
    "page_viewed",
    "alias",
]


@pytest.mark.parametrize("sdk_name", ["segment", "rudderstack"])
def test_sdk_journey_lands_mapped_stitched_and_once(
    live_server: LiveServer, lossy_proxy: LossyProxy, sdk_name: str
) -> None:
    errors: list[Any] = []
    sdk = _client(sdk_name, live_server.write_key, f"{lossy_proxy.url}/segment", errors)
    started = time.monotonic()
    anon, device, user = _journey(sdk, sdk_name)
    sdk.flush()
    sdk.join()
    assert errors == []
    assert lossy_proxy.dropped == 1, "the proxy should have forced one retry"
    assert lossy_proxy.connections >= 2  # the retry came on a new connection
    assert time.monotonic() - started < 30

    events = live_server.wait_for_events(user, len(EXPECTED_TYPES))
    assert [e["type"] for e in events] == EXPECTED_TYPES
    assert len({e["message_id"] for e in events}) == len(events)
    viewed = events[1]
    assert (viewed["product_id"], viewed["properties"]["category"]) == ("p-1", "shoes")
    assert events[2]["product_id"] == "p-1"  # from the sku
    assert events[4]["properties"]["revenue"] == 40.0  # from the total

    profile = live_server.get(f"/v1/profiles/{anon}")
    assert profile["user_ids"] == [user]
    assert profile["anonymous_ids"] == sorted([anon, device])
    counters = profile["counters"]
    assert (counters["views"], counters["carts"], counters["orders"]) == (1, 1, 1)
    assert counters["revenue"] == 40.0
    assert profile["recently_purchased"] == ["p-1"]
    assert profile["traits"]["email"]["value"] == f"{sdk_name}@example.com"
    assert profile["traits"]["first_name"]["value"] == "Ada"
    assert profile["traits"]["first_name"]["source"] == "segment"
    consent = {name: value["granted"] for name, value in profile["consent"].items()}
    assert consent == {"analytics": True, "advertising": False}
    library = events[0]["context"]["library"]
    assert library["name"] == "analytics-python"
