"""Minimization at ingestion: IP addresses truncated, undeclared properties dropped."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from tests.collect.conftest import EventFactory

from shopwise import store
from shopwise.api import create_app
from shopwise.auth import KeyKind
from shopwise.collect import ALWAYS_KEPT, Minimizer, Rejection, truncate_ip, validate_event
from shopwise.collect.tracking_api import SegmentTranslator
from shopwise.errors import InvalidInput
from shopwise.features import store_frames
from shopwise.runtime import Runtime
from shopwise.schema import Columns, EventType
from shopwise.settings import Settings
from shopwise.simulate import SimulationConfig, load, simulate

# -- IP addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("203.0.113.0", "203.0.113.0"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::"),
        ("2001:DB8:ABCD:0012:0000:0000:0000:0001", "2001:db8:abcd::"),
        ("::ffff:203.0.113.77", "203.0.113.0"),
        ("fe80::1%eth0", "fe80::"),
        (" 198.51.100.9 ", "198.51.100.0"),
    ],
)
def test_ip_addresses_are_truncated_to_their_network(sent: str, stored: str) -> None:
    assert truncate_ip(sent) == stored


@pytest.mark.parametrize(
    "sent", ["", "not an ip", "203.0.113", "256.1.1.1", "203.0.113.77/24", "2001:db8::1::2"]
)
def test_what_is_not_an_ip_address_gives_none(sent: str) -> None:
    assert truncate_ip(sent) is None


@given(address=st.ip_addresses(v=4))
def test_an_ipv4_address_keeps_its_first_24_bits(address: ipaddress.IPv4Address) -> None:
    truncated = ipaddress.IPv4Address(truncate_ip(str(address)))
    assert truncated.packed == address.packed[:3] + b"\0"


@given(address=st.ip_addresses(v=6))
def test_an_ipv6_address_keeps_its_first_48_bits(address: ipaddress.IPv6Address) -> None:
    truncated = truncate_ip(str(address))
    assert truncated is not None
    if address.ipv4_mapped is not None:
        assert truncated == truncate_ip(str(address.ipv4_mapped))
    else:
        assert ipaddress.IPv6Address(truncated).packed == address.packed[:6] + bytes(10)


def _runtime(client: TestClient) -> Runtime:
    rt: Runtime = client.app.runtime  # type: ignore[attr-defined]
    return rt


def _rows(runtime: Runtime) -> dict[str, dict[str, Any]]:
    """Stored events by message id: their product column, context and properties."""
    query = sa.select(
        store.events.c.message_id,
        store.events.c.product_id,
        store.events.c.context,
        store.events.c.properties,
    )
    with runtime.engine.connect() as conn:
        return {row.message_id: dict(row._mapping) for row in conn.execute(query)}


def test_events_api_stores_ip_addresses_truncated_and_drops_bad_ones(
    client: TestClient, write_auth: dict[str, str], make_event: EventFactory
) -> None:
    batch = [
        make_event(message_id="v4", context={"ip": "203.0.113.77"}),
        make_event(message_id="v6", context={"ip": "2001:db8:abcd:12::1"}),
        make_event(message_id="bad", context={"ip": "unknown", "locale": "de-DE"}),
    ]
    body = client.post("/v1/events", json={"batch": batch}, headers=write_auth).json()
    assert (body["accepted"], body["rejected"]) == (3, [])
    rows = _rows(_runtime(client))
    assert rows["v4"]["context"] == {"ip": "203.0.113.0"}
    assert rows["v6"]["context"] == {"ip": "2001:db8:abcd::"}
    assert rows["bad"]["context"] == {"locale": "de-DE"}


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def _segment_view(message_id: str, ip: str) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Product Viewed",
        "anonymousId": "a1",
        "messageId": message_id,
        "properties": {"product_id": "p1", "variant": "red"},
        "context": {"ip": ip, "userAgent": "UA"},
    }


def test_segment_routes_store_ip_addresses_truncated_and_drop_bad_ones(client: TestClient) -> None:
    headers = _basic(_runtime(client).keys.create(KeyKind.WRITE)[1])
    single = client.post(
        "/segment/v1/track", json=_segment_view("s4", "198.51.100.23"), headers=headers
    )
    assert single.json() == {"success": True}
    batch = [_segment_view("s6", "2001:db8:abcd:12::1"), _segment_view("sx", "localhost")]
    response = client.post("/segment/v1/batch", json={"batch": batch}, headers=headers)
    assert response.json() == {"success": True}
    rows = _rows(_runtime(client))
    assert rows["s4"]["context"] == {"ip": "198.51.100.0", "user_agent": "UA"}
    assert rows["s6"]["context"] == {"ip": "2001:db8:abcd::", "user_agent": "UA"}
    assert rows["sx"]["context"] == {"user_agent": "UA"}
    assert rows["s4"]["properties"] == {"product_id": "p1"}  # the variant is not allowed


# -- properties ----------------------------------------------------------------------------------


def _event(event_type: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "message_id": "m-1",
        "type": event_type,
        "anonymous_id": "a-1",
        "timestamp": "2026-03-01T10:00:00+00:00",
        "properties": properties,
    }


def _stored(
    event_type: str, properties: dict[str, Any], minimizer: Minimizer | None = None
) -> dict[str, Any]:
    raw = _event(event_type, properties)
    row = validate_event(raw, 0, 0) if minimizer is None else validate_event(raw, 0, 0, minimizer)
    assert not isinstance(row, Rejection), row
    return row


LINE = {"product_id": "p1", "price": 5.0, "sku": "S-1", "name": "Shoe", "color": "red"}
ORDER = {
    "order_id": "o1",
    "revenue": 10.0,
    "currency": "EUR",
    "products": [LINE],
    "affiliation": "store",
    "color": "red",
}


def test_undeclared_properties_are_dropped_by_default_and_the_event_kept() -> None:
    viewed = _stored("product_viewed", {"product_id": "p1", "price": 3, "variant": "red"})
    assert viewed["properties"] == {"product_id": "p1", "price": 3.0}
    order = _stored("order_completed", ORDER)["properties"]
    assert order == {
        "order_id": "o1",
        "revenue": 10.0,
        "currency": "EUR",
        "discount": 0.0,
        "products": [{"product_id": "p1", "price": 5.0, "quantity": 1}],
    }


def test_declared_values_are_kept_whole() -> None:
    traits = {"email": "ann@example.com", "favourite_colour": "red"}
    assert _stored("identify", {"traits": traits})["properties"] == {"traits": traits}
    filters = [{"type": "size", "value": "M", "anything": [1, 2]}]
    listed = _stored("product_list_filtered", {"filters": filters, "sort": "price"})
    assert listed["properties"] == {"filters": filters}


@pytest.mark.parametrize(
    ("event_type", "properties"),
    [
        ("product_viewed", {"product_id": "p1"}),
        ("product_added", {"product_id": "p1", "quantity": 1}),
        ("promotion_clicked", {"promotion_id": "spring", "name": "spring"}),
    ],
)
def test_a_click_keeps_the_recommendation_id_of_the_answer_it_came_from(
    event_type: str, properties: dict[str, Any]
) -> None:
    # KPIs, experiment results and bandits attribute clicks through it
    rid = "0" * 32
    stored = _stored(event_type, {**properties, "recommendation_id": rid, "color": "red"})
    assert stored[Columns.PROPERTIES]["recommendation_id"] == rid
    assert "color" not in stored[Columns.PROPERTIES]


def test_names_allowed_for_every_type_are_kept_everywhere_and_in_product_lines() -> None:
    minimizer = Minimizer({"*": ["color"]})
    viewed = _stored("product_viewed", {"product_id": "p1", "color": "red", "size": "M"}, minimizer)
    assert viewed["properties"] == {"product_id": "p1", "color": "red"}
    order = _stored("order_completed", ORDER, minimizer)["properties"]
    assert order["color"] == "red" and "affiliation" not in order
    assert order["products"] == [{"product_id": "p1", "price": 5.0, "quantity": 1, "color": "red"}]
    custom = _stored("custom:signed_up", {"color": "red", "plan": "gold"}, minimizer)
    assert custom["properties"] == {"color": "red"}


def test_names_allowed_for_one_type_are_kept_on_that_type_only() -> None:
    minimizer = Minimizer({"product_viewed": ["variant"], "order_completed": ["sku"]})
    props = {"product_id": "p1", "variant": "red"}
    assert _stored("product_viewed", props, minimizer)["properties"] == props
    assert _stored("product_added", props, minimizer)["properties"] == {
        "product_id": "p1",
        "quantity": 1,
    }
    order = _stored("order_completed", ORDER, minimizer)["properties"]
    assert order["products"] == [{"product_id": "p1", "price": 5.0, "quantity": 1, "sku": "S-1"}]


def test_custom_events_keep_their_properties_only_when_allowed() -> None:
    props = {"plan": "gold", "list": "weekly"}
    assert _stored("custom:signed_up", props)["properties"] == {}
    minimizer = Minimizer({"custom:signed_up": ["plan"]})
    assert _stored("custom:signed_up", props, minimizer)["properties"] == {"plan": "gold"}
    assert _stored("custom:other", props, minimizer)["properties"] == {}
    # a product named by any event still fills the row's product column
    clicked = _stored("custom:product_clicked", {"product_id": "p7", "position": 3})
    assert (clicked["product_id"], clicked["properties"]) == ("p7", {"product_id": "p7"})


def test_what_the_segment_translation_writes_is_kept_by_default() -> None:
    translator = SegmentTranslator()
    received = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def stored(message: dict[str, Any]) -> dict[str, Any]:
        envelope = translator.translate(
            {"anonymousId": "a1", "messageId": "m", **message}, received
        )
        assert isinstance(envelope, dict)
        row = validate_event(envelope, 0, 0)
        assert not isinstance(row, Rejection), row
        props: dict[str, Any] = row[Columns.PROPERTIES]
        return props

    custom = stored({"type": "track", "event": "Product Clicked", "properties": {"sku": "p7"}})
    assert custom == {"product_id": "p7", "event_name": "Product Clicked"}
    identify = stored({"type": "identify", "traits": {"email": "a@b.c", "tags": ["x"]}})
    assert set(identify) == {"traits", "source", "refused_traits"}
    page = {"type": "page", "name": "Home", "category": "Landing", "properties": {"search": "?q"}}
    assert stored(page) == {"name": "Home", "category": "Landing"}
    assert stored({"type": "screen", "name": "Cart"}) == {"name": "Cart", "screen": True}
    group = stored({"type": "group", "groupId": "g7", "traits": {"n": 3}})
    assert group == {"group_id": "g7", "traits": {"n": 3}}


def test_always_kept_names_cannot_be_configured_away() -> None:
    minimizer = Minimizer({"*": ["color"], "identify": ["plan"]})
    for event_type, names in ALWAYS_KEPT.items():
        if event_type != "*":
            assert names <= minimizer.kept(event_type)
    assert ALWAYS_KEPT["*"] <= minimizer.kept("custom:anything")
    assert {"color", "plan"} <= minimizer.kept(EventType.IDENTIFY)


@pytest.mark.parametrize(
    "extra",
    [
        {"prodcut_viewed": ["variant"]},
        {"custom:Bad Name": ["x"]},
        {"*": [""]},
        {"*": "color"},
    ],
)
def test_a_misspelled_type_or_an_empty_name_is_refused(extra: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as raised:
        Minimizer(extra)
    assert raised.value.message.startswith("extra_properties:")


# -- the setting, through the runtime ------------------------------------------------------------


def test_the_setting_reads_json_from_the_environment_and_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "SHOPWISE_EXTRA_PROPERTIES", '{"*": ["color", "size"], "product_viewed": ["variant"]}'
    )
    settings = Settings(data_dir=tmp_path)
    assert settings.extra_properties == {"*": ["color", "size"], "product_viewed": ["variant"]}
    assert Settings.model_validate(settings.model_dump()) == settings
    monkeypatch.delenv("SHOPWISE_EXTRA_PROPERTIES")
    assert Settings(data_dir=tmp_path).extra_properties == {}


@pytest.fixture
def allowing_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "var",
        log_level="WARNING",
        extra_properties={"*": ["color"], "custom:signed_up": ["plan"]},
    )
    with TestClient(create_app(settings, Runtime.build(settings, migrate=True))) as client:
        yield client


def test_the_collector_applies_the_settings_allow_list(
    allowing_client: TestClient, make_event: EventFactory
) -> None:
    runtime = _runtime(allowing_client)
    headers = {"Authorization": f"Bearer {runtime.keys.create(KeyKind.WRITE)[1]}"}
    batch = [
        make_event(message_id="v", properties={"product_id": "p1", "color": "red", "size": "M"}),
        make_event("custom:signed_up", {"plan": "gold", "list": "weekly"}, message_id="c"),
    ]
    body = allowing_client.post("/v1/events", json={"batch": batch}, headers=headers).json()
    assert (body["accepted"], body["rejected"]) == (2, [])
    rows = _rows(runtime)
    assert rows["v"]["properties"] == {"product_id": "p1", "color": "red"}
    assert rows["c"]["properties"] == {"plan": "gold"}


def test_a_runtime_refuses_an_allow_list_naming_no_event_type(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, extra_properties={"product_veiwed": ["variant"]})
    with pytest.raises(InvalidInput, match="product_veiwed"):
        Runtime.build(settings, migrate=True)


# -- the default changes nothing shopwise does ---------------------------------------------------

QUICK = SimulationConfig.quick()


def _loaded(settings: Settings) -> Runtime:
    """A runtime holding the quick demo shop, its profiles folded."""
    runtime = Runtime.build(settings, migrate=True)
    runtime.start()
    load(simulate(QUICK), runtime.collector.ingest, runtime.catalog.upsert)
    with runtime.engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(store.events.c.id))).scalar_one()
    assert runtime.bus.wait_until_consumed(last, timeout=60)
    return runtime


def _names(properties: dict[str, Any]) -> set[str]:
    """The property names of an event, those of its product lines as ``products[].<name>``."""
    lines = properties.get("products") or []
    return set(properties) | {f"products[].{name}" for line in lines for name in line}


def _profiles(runtime: Runtime) -> dict[str, Any]:
    """Every profile's state; of a trait, its time, event and source (values may be sealed)."""
    query = sa.select(store.profiles.c.profile_id, store.profiles.c.state)
    states = {}
    with runtime.engine.connect() as conn:
        for row in conn.execute(query):
            traits = {name: entry[1:] for name, entry in row.state.get("traits", {}).items()}
            states[row.profile_id] = {**row.state, "traits": traits}
    return states


@pytest.mark.slow
def test_the_default_keeps_everything_the_demo_shops_profiles_and_features_read(
    tmp_path: Path,
) -> None:
    """The demo shop stored as it is minimized by default and stored whole (every name it
    sends allowed) gives the same profiles, features frames and product columns."""
    sent = set().union(*(_names(e.get("properties", {})) for e in simulate(QUICK).events))
    minimized = _loaded(Settings(data_dir=tmp_path / "min", log_level="WARNING"))
    whole = _loaded(
        Settings(
            data_dir=tmp_path / "all", log_level="WARNING", extra_properties={"*": sorted(sent)}
        )
    )
    try:
        small, full = _rows(minimized), _rows(whole)
        assert small.keys() == full.keys()
        dropped = set().union(
            *(
                _names(row["properties"]) - _names(small[mid]["properties"])
                for mid, row in full.items()
            )
        )
        # the demo shop's own extras, which nothing reads
        assert dropped == {"share_via", "reason", "products[].position"}
        assert all(small[mid]["product_id"] == row["product_id"] for mid, row in full.items())
        assert _profiles(minimized) == _profiles(whole)
        frames = [store_frames(rt.engine, rt.consent, item_info=None) for rt in (minimized, whole)]
        pd.testing.assert_frame_equal(frames[0].events, frames[1].events)
        pd.testing.assert_frame_equal(frames[0].orders, frames[1].orders)
    finally:
        minimized.stop()
        whole.stop()
