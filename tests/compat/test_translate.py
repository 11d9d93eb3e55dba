"""Unit tests of the Segment -> envelope translation, checked by the collector's own validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopwise.collect import Minimizer, Rejection, validate_event
from shopwise.collect.tracking_api import (
    EVENT_NAME_PROPERTY,
    EVENT_NAMES,
    SegmentTranslator,
    TrackingApiConfig,
    Untranslatable,
    corrected_time,
    event_type_for,
    map_consent,
    map_traits,
    message_id_of,
)
from shopwise.schema import CUSTOM_NAME, EventType, Purpose

RECEIVED = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def translate(message: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    out = SegmentTranslator(kwargs.pop("config", None)).translate(message, RECEIVED, **kwargs)
    assert isinstance(out, dict), out
    return out


def stored(envelope: dict[str, Any]) -> dict[str, Any]:
    """The row the collector makes of ``envelope`` (fails the test when it would reject it)."""
    row = validate_event(envelope, 0, 0)
    assert not isinstance(row, Rejection), row
    return row


def track(event: str, properties: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    message = {"type": "track", "event": event, "anonymousId": "a1", "messageId": "m1"}
    return {**message, "properties": properties or {}, **extra}


@pytest.mark.parametrize(("name", "expected"), sorted(EVENT_NAMES.items()))
def test_every_spec_event_name_maps_to_its_type(name: str, expected: str) -> None:
    title = " ".join(word.capitalize() for word in name.split())
    assert event_type_for(title) == expected
    assert event_type_for(name.upper()) == expected


def test_unmapped_track_events_become_custom_events_named_in_snake_case() -> None:
    envelope = translate(track("Newsletter Signed Up", {"list": "weekly"}))
    row = stored(envelope)
    assert row["type"] == "custom:newsletter_signed_up"
    # a custom event keeps the properties the shop allows (SHOPWISE_EXTRA_PROPERTIES)
    assert row["properties"] == {EVENT_NAME_PROPERTY: "Newsletter Signed Up"}
    allowed = Minimizer({"custom:newsletter_signed_up": ["list"]})
    kept = validate_event(envelope, 0, 0, allowed)
    assert not isinstance(kept, Rejection)
    assert kept["properties"] == {"list": "weekly", EVENT_NAME_PROPERTY: "Newsletter Signed Up"}
    assert event_type_for("videoPlaybackStarted") == "custom:video_playback_started"
    assert event_type_for("recommendation_clicked") == EventType.RECOMMENDATION_CLICKED
    # identity types are calls, not track events: a track named "Identify" stays custom
    assert event_type_for("Identify") == "custom:identify"


def test_product_events_take_sku_or_v1_id_as_product_id() -> None:
    row = stored(translate(track("Product Viewed", {"sku": "SKU-1", "price": "19.5"})))
    assert (row["type"], row["product_id"]) == (EventType.PRODUCT_VIEWED, "SKU-1")
    assert row["properties"]["price"] == 19.5
    row = stored(translate(track("Product Added", {"id": 42, "quantity": 2, "sku": "S"})))
    assert (row["product_id"], row["properties"]["quantity"]) == ("S", 2)
    row = stored(translate(track("Product Removed", {"product_id": "p9", "sku": "S"})))
    assert row["product_id"] == "p9"


def test_order_completed_revenue_comes_from_revenue_then_total_then_product_lines() -> None:
    lines = [{"sku": "a", "price": 10, "quantity": 2}, {"product_id": "b", "price": 5}]
    base = {"order_id": "o1", "products": lines, "currency": "eur"}
    row = stored(translate(track("Order Completed", {**base, "revenue": 20, "total": 27})))
    assert (row["properties"]["revenue"], row["properties"]["currency"]) == (20, "EUR")
    assert [p["product_id"] for p in row["properties"]["products"]] == ["a", "b"]
    row = stored(translate(track("Order Completed", {**base, "total": 27})))
    assert row["properties"]["revenue"] == 27
    row = stored(translate(track("Order Completed", base)))
    assert row["properties"]["revenue"] == 25.0


def test_missing_currency_defaults_as_configured() -> None:
    props = {"order_id": "o1", "total": 5, "products": [{"product_id": "p"}]}
    assert stored(translate(track("Order Completed", props)))["properties"]["currency"] == "USD"
    refuse = TrackingApiConfig(default_currency=None)
    rejected = validate_event(translate(track("Order Completed", props), config=refuse), 0, 0)
    assert isinstance(rejected, Rejection)
    assert rejected.code == "invalid_properties"
    assert "currency" in rejected.message


def test_search_filter_and_email_properties() -> None:
    assert stored(translate(track("Products Searched", {"query": "red shoes"})))["properties"] == {
        "query": "red shoes"
    }
    filters = [{"type": "size", "value": "M"}]
    row = stored(translate(track("Product List Filtered", {"filters": filters, "list_id": "l"})))
    assert (row["type"], row["properties"]["filters"]) == (EventType.PRODUCT_LIST_FILTERED, filters)
    props = {"email_id": "e1", "campaign_name": "spring", "link_url": "https://x/y"}
    row = stored(translate(track("Email Link Clicked", props)))
    assert row["type"] == EventType.EMAIL_CLICKED
    assert (row["properties"]["url"], row["properties"]["campaign"]) == ("https://x/y", "spring")


def test_spec_event_with_missing_required_property_is_rejected_with_the_reason() -> None:
    rejected = validate_event(translate(track("Product Viewed", {"name": "shoe"})), 0, 0)
    assert isinstance(rejected, Rejection)
    assert (rejected.code, rejected.message) == (
        "invalid_properties",
        "properties.product_id: Field required",
    )


def test_identify_maps_camel_case_traits_and_keeps_refused_ones_with_the_reason() -> None:
    message = {
        "type": "identify",
        "userId": 1001,
        "anonymousId": "a1",
        "messageId": "m2",
        "traits": {
            "firstName": "Ann",
            "email": "ann@example.com",
            "createdAt": "2024-01-02T03:04:05Z",
            "birthday": "1990-05-06T00:00:00.000Z",
            "company": {"name": "Acme", "employeeCount": 5},
            "tags": ["a", "b"],
        },
    }
    row = stored(translate(message))
    assert (row["type"], row["user_id"], row["anonymous_id"]) == ("identify", "1001", "a1")
    assert row["properties"]["traits"] == {
        "first_name": "Ann",
        "email": "ann@example.com",
        "created_at": "2024-01-02T03:04:05Z",
        "birthday": "1990-05-06",
        "company_name": "Acme",
        "company_employee_count": 5,
    }
    assert row["properties"]["source"] == "segment"
    refused = row["properties"]["refused_traits"]
    assert list(refused) == ["tags"]
    assert refused["tags"]["value"] == ["a", "b"]
    assert "scalars" in refused["tags"]["reason"]


def test_rudderstack_identify_traits_in_context_are_read() -> None:
    message = {
        "type": "identify",
        "userId": "u1",
        "messageId": "m3",
        "context": {"traits": {"email": "x@example.com", "plan": "gold"}},
        "traits": {"plan": "silver"},
    }
    traits = stored(translate(message))["properties"]["traits"]
    assert traits == {"email": "x@example.com", "plan": "silver"}


def test_alias_page_screen_and_group() -> None:
    row = stored(translate({"type": "alias", "previousId": "a1", "userId": "u1", "messageId": "m"}))
    assert (row["type"], row["user_id"], row["properties"]) == (
        "alias",
        "u1",
        {"previous_id": "a1"},
    )
    page = {
        "type": "page",
        "anonymousId": "a1",
        "messageId": "m",
        "name": "Home",
        "category": "Landing",
        "properties": {"url": "https://shop.example/", "title": "Shop", "search": "?q"},
    }
    row = stored(translate(page))
    assert row["type"] == EventType.PAGE_VIEWED
    assert row["properties"]["name"] == "Home"
    assert row["context"]["page"] == {"url": "https://shop.example/", "title": "Shop"}
    screen = {"type": "screen", "anonymousId": "a1", "messageId": "m", "name": "Cart"}
    row = stored(translate(screen))
    assert (row["type"], row["properties"]) == ("page_viewed", {"name": "Cart", "screen": True})
    group = {"type": "group", "userId": "u1", "groupId": "g7", "traits": {"n": 3}, "messageId": "m"}
    row = stored(translate(group))
    assert (row["type"], row["properties"]) == (
        "custom:group",
        {"group_id": "g7", "traits": {"n": 3}},
    )


def test_context_fields_are_renamed_and_unknown_ones_dropped() -> None:
    context = {
        "userAgent": "UA",
        "ip": "203.0.113.1",
        "locale": "de-DE",
        "page": {"url": "https://s/p", "path": "/p", "search": "?x"},
        "campaign": {"source": "news", "medium": "email", "utm_id": "9"},
        "library": {"name": "analytics-python", "version": "2.4.0"},
        "device": {"type": "ios"},
    }
    row = stored(translate(track("Cart Viewed", {"products": []}, context=context)))
    assert row["context"] == {
        "user_agent": "UA",
        "ip": "203.0.113.0",  # truncated to its /24 at ingestion
        "locale": "de-DE",
        "page": {"url": "https://s/p", "path": "/p"},
        "campaign": {"source": "news", "medium": "email"},
        "library": {"name": "analytics-python", "version": "2.4.0"},
    }


def test_consent_category_preferences_map_onto_purposes() -> None:
    prefs = {
        "Analytics": True,
        "Advertising": False,
        "Functional": True,
        "Personalization": False,
        "DataSharing": False,
        "SomethingElse": True,
    }
    context = {"consent": {"categoryPreferences": prefs}}
    row = stored(translate(track("Cart Viewed", {"products": []}, context=context)))
    assert row["context"]["consent"] == {
        "purposes": {"analytics": True, "advertising": False, "personalization": False},
        "do_not_sell": True,
    }
    rudder = {"consentManagement": {"allowedConsentIds": ["C0002"], "deniedConsentIds": ["C0004"]}}
    row = stored(translate(track("Cart Viewed", {"products": []}, context=rudder)))
    assert row["context"]["consent"] == {"purposes": {"analytics": True, "advertising": False}}
    assert map_consent({"Unknown": True}, {}) is None
    table = {"c0001": Purpose.MARKETING}
    assert map_consent({"C0001": True}, table) == {"purposes": {"marketing": True}}


def test_clock_skew_is_corrected_from_sent_at_and_receive_time() -> None:
    # the device clock runs 1 hour fast: it stamped the event 5 s before it sent the batch
    stamp = RECEIVED + timedelta(hours=1) - timedelta(seconds=5)
    sent = RECEIVED + timedelta(hours=1)
    message = track("Cart Viewed", {"products": []}, timestamp=stamp.isoformat())
    envelope = translate(message, sent_at=sent)
    assert envelope["timestamp"] == RECEIVED - timedelta(seconds=5)
    own = translate({**message, "sentAt": sent.isoformat()}, sent_at=RECEIVED)
    assert own["timestamp"] == RECEIVED - timedelta(seconds=5)
    off = translate(message, sent_at=sent, config=TrackingApiConfig(correct_clock_skew=False))
    assert off["timestamp"] == stamp
    untimed = translate(track("Cart Viewed", {"products": []}))
    assert untimed["timestamp"] == RECEIVED
    original = translate({**track("Cart Viewed"), "originalTimestamp": "2026-03-01T11:00:00"})
    assert original["timestamp"] == RECEIVED - timedelta(hours=1)


@given(
    stamp=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    delay=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    transit=st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=5)),
)
def test_skew_correction_keeps_the_delay_between_event_and_send(
    stamp: datetime, delay: timedelta, transit: timedelta
) -> None:
    stamp = stamp.replace(tzinfo=UTC)
    sent = stamp + delay
    received = RECEIVED + transit
    corrected = corrected_time(stamp, sent, received)
    assert corrected == received - delay
    assert corrected <= received


def test_message_id_is_kept_or_derived_stably_from_the_content() -> None:
    message = track("Cart Viewed", {"products": []})
    assert message_id_of(message) == "m1"
    anonymous = {k: v for k, v in message.items() if k != "messageId"}
    derived = message_id_of({**anonymous, "sentAt": "2026-01-01T00:00:00Z"})
    assert derived == message_id_of({**anonymous, "sentAt": "2026-02-01T00:00:00Z"})
    assert derived != message_id_of({**anonymous, "event": "Checkout Started"})
    assert derived.startswith("seg_")


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ([1, 2], "not_an_object"),
        ({"type": "flush", "userId": "u"}, "unknown_call_type"),
        ({"type": "track", "userId": "u"}, "missing_event_name"),
        ({"type": "track", "userId": "u", "event": "!!!"}, "unnamed_event"),
        (
            {"type": "track", "userId": "u", "event": "x", "timestamp": "yesterday"},
            "invalid_timestamp",
        ),
        (
            {"type": "track", "userId": "u", "event": "x", "properties": {"b": "x" * 33_000}},
            "event_too_large",
        ),
    ],
)
def test_untranslatable_messages_say_why(message: Any, code: str) -> None:
    out = SegmentTranslator().translate(message, RECEIVED)
    assert isinstance(out, Untranslatable)
    assert out.code == code
    assert out.raw == message
    assert out.message


@given(st.text(min_size=1, max_size=120))
def test_any_event_name_gives_a_valid_type_or_none(name: str) -> None:
    event_type = event_type_for(name)
    if event_type is not None:
        assert event_type in set(EventType) or CUSTOM_NAME.match(event_type)


def test_map_traits_flattens_nested_objects_but_keeps_address() -> None:
    address = {"city": "Oslo", "postalCode": "0150"}
    accepted, refused = map_traits({"address": address, "plan": {"tier": "pro"}, "lastName": "Li"})
    assert accepted == {"address": address, "plan_tier": "pro", "last_name": "Li"}
    assert refused == {}
    accepted, refused = map_traits({"birthday": "not a date", "newsletter": "yes"})
    assert accepted == {}
    assert set(refused) == {"birthday", "newsletter"}


def test_public_names() -> None:
    import shopwise.collect.tracking_api as tracking_api

    assert sorted(tracking_api.__all__) == sorted(
        [
            "CALL_TYPES",
            "DEFAULT_CONSENT_CATEGORIES",
            "DO_NOT_SELL",
            "EVENT_NAMES",
            "EVENT_NAME_PROPERTY",
            "MAX_SEGMENT_BATCH_BYTES",
            "MAX_SEGMENT_EVENT_BYTES",
            "TrackingApiConfig",
            "SegmentIngest",
            "SegmentResult",
            "SegmentTranslator",
            "Untranslatable",
            "batch_messages",
            "corrected_time",
            "decode_body",
            "event_type_for",
            "map_consent",
            "map_traits",
            "message_id_of",
            "parse_object",
            "received_now",
        ]
    )
    assert all(hasattr(tracking_api, name) for name in tracking_api.__all__)


def test_config_round_trips() -> None:
    config = TrackingApiConfig(
        default_currency="EUR", consent_categories={"stats": Purpose.ANALYTICS}
    )
    assert TrackingApiConfig.model_validate(config.model_dump()) == config
    with pytest.raises(ValueError, match="extra"):
        TrackingApiConfig.model_validate({"default_currency": "EUR", "unknown": 1})


# what orjson.loads can produce from a request body (it reads integers beyond 64 bits as floats)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=12,
)
_fields = st.sampled_from(
    [
        "type",
        "event",
        "userId",
        "anonymousId",
        "messageId",
        "properties",
        "traits",
        "context",
        "timestamp",
        "sentAt",
        "previousId",
        "groupId",
        "name",
    ]
)


@given(
    message=st.dictionaries(_fields, _json, max_size=8),
    call=st.sampled_from([None, "track", "identify", "page", "screen", "alias", "group"]),
)
def test_any_message_is_translated_or_refused_with_a_reason_never_an_exception(
    message: dict[str, Any], call: str | None
) -> None:
    out = SegmentTranslator().translate(message, RECEIVED, RECEIVED, call)
    if isinstance(out, Untranslatable):
        assert out.code and out.message and out.raw == message
        return
    row = validate_event(out, 0, 0)  # the collector decides; it must not raise either
    if not isinstance(row, Rejection):
        assert row["type"] in set(EventType) or CUSTOM_NAME.match(row["type"])
