"""Hostile input at ingestion (issue 22): blank and control-character ids, NUL bytes, nesting
deeper than the limit, timestamps outside the window, clock skew across the calendar. Each bad
event is refused alone, with a code and a message naming the field; the others are stored and
read back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from shopwise.collect import Rejection, validate_event
from shopwise.collect._validate import MAX_DEPTH, json_text, kept_levels, nesting_exceeds
from shopwise.collect.tracking_api import SegmentTranslator, Untranslatable, corrected_time
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.store import events as events_table

from .conftest import EventFactory


@pytest.fixture
def settings(backend_settings: Settings) -> Settings:
    """The route tests run on each store backend: SQLite, and PostgreSQL when a server is given."""
    return backend_settings


def _nested(levels: int) -> dict[str, Any]:
    """An object nesting ``levels`` levels (itself the first)."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"x": value}
    return value


def _refusal(raw: Any) -> Rejection:
    result = validate_event(raw, 0, 0)
    assert isinstance(result, Rejection), result
    return result


def _row(raw: Any) -> dict[str, Any]:
    result = validate_event(raw, 0, 0)
    assert not isinstance(result, Rejection), result
    return result


# -- ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["message_id", "anonymous_id", "user_id"])
@pytest.mark.parametrize("blank", ["", "   ", "\t\n", "\u3000"])
def test_blank_ids_are_refused_naming_the_field(
    make_event: EventFactory, field: str, blank: str
) -> None:
    """Regression: pydantic checked min_length before stripping, so "   " passed as ""."""
    refusal = _refusal(make_event(**{field: blank}))
    assert refusal.code in ("blank_id", "invalid_envelope")
    assert refusal.message.startswith(f"{field}:")
    if blank.strip() == "" and blank:
        assert refusal.code == "blank_id"


def test_blank_product_and_order_ids_are_refused(make_event: EventFactory) -> None:
    product = _refusal(make_event(properties={"product_id": "  "}))
    assert (product.code, product.message.split(":")[0]) == ("blank_id", "properties.product_id")
    order = _refusal(
        make_event(
            "order_completed",
            {"order_id": " ", "products": [{"product_id": "p"}], "revenue": 1, "currency": "EUR"},
        )
    )
    assert order.code == "blank_id" and order.message.startswith("properties.order_id:")


def test_ids_are_stripped(make_event: EventFactory) -> None:
    row = _row(make_event(anonymous_id="  a1 ", user_id="\tu1\n", properties={"product_id": " p"}))
    assert (row["anonymous_id"], row["user_id"], row["product_id"]) == ("a1", "u1", "p")


@pytest.mark.parametrize("bad", ["a\x00b", "a\x07", "a\x7f", "a\x85b", "a\tb", "a\nb"])
def test_control_characters_in_ids_are_refused(make_event: EventFactory, bad: str) -> None:
    refusal = _refusal(make_event(user_id=bad))
    assert refusal.code in ("control_character", "nul_character")
    assert refusal.message.startswith("user_id:")


def test_unicode_ids_are_kept(make_event: EventFactory) -> None:
    assert _row(make_event(anonymous_id="ünïcødé-🛒"))["anonymous_id"] == "ünïcødé-🛒"


def test_nul_is_refused_anywhere_and_other_controls_are_kept_in_text(
    make_event: EventFactory,
) -> None:
    context = {"page": {"title": "two\tlines\n"}}
    assert _row(make_event(context=context))["context"]["page"]["title"] == "two\tlines\n"
    for properties, path in [
        ({"product_id": "p", "category": "a\x00"}, "properties.category"),
        ({"product_id": "p", "list": ["ok", {"n\x00": 1}]}, "properties.list[1].n\\0"),
    ]:
        refusal = _refusal(make_event(properties=properties))
        assert (refusal.code, refusal.message.split(": ")[0]) == ("nul_character", path)
        assert "\x00" not in refusal.message
    title = _refusal(make_event(context={"page": {"title": "a\x00"}}))
    assert title.message.startswith("context.page.title:")


def test_an_escaped_backslash_before_u0000_is_not_a_nul(make_event: EventFactory) -> None:
    row = _row(make_event(properties={"product_id": "p", "category": "C:\\u0000"}))
    assert row["properties"]["category"] == "C:\\u0000"


# -- nesting --------------------------------------------------------------------------------


def test_nesting_is_refused_past_the_limit_and_kept_whole_in_the_dead_letter(
    make_event: EventFactory,
) -> None:
    at_limit = make_event(properties={"product_id": "p", "d": _nested(MAX_DEPTH - 2)})
    assert not nesting_exceeds(at_limit) and nesting_exceeds(at_limit, MAX_DEPTH - 1)
    _row(at_limit)
    deep = make_event(properties={"product_id": "p", "d": _nested(300)})
    refusal = _refusal(deep)
    assert refusal.code == "too_deep" and str(MAX_DEPTH) in refusal.message
    kept = orjson.loads(refusal.raw)  # a reader can walk it: the deep part is text
    assert not nesting_exceeds(kept, MAX_DEPTH + 1)
    assert kept == kept_levels(deep)
    not_an_object = _refusal([[[[]]]] * 2)
    assert not_an_object.code == "not_an_object"


def test_json_text_writes_what_orjson_cannot() -> None:
    deep: list[Any] = []
    for _ in range(1000):
        deep = [deep]
    assert json_text(deep) == "[" * 1001 + "]" * 1001
    # the standard library reads lone surrogates back (orjson refuses them)
    assert json.loads(json_text({"a": "\ud800", 1: [None, True, 2.5]})) == {
        "a": "\ud800",
        "1": [None, True, 2.5],
    }
    assert json_text({1: "x"}) == '{"1":"x"}'


def test_a_lone_surrogate_is_refused_not_raised(make_event: EventFactory) -> None:
    refusal = _refusal(make_event(anonymous_id="a\ud800"))
    assert refusal.code == "not_json"
    assert "\\ud800" in refusal.raw


# -- time -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stamp",
    [
        "9999-12-31T23:59:59-01:00",  # regression: stored, then every read of the profile 500
        "0001-01-01T00:00:00+14:00",
        "1999-12-31T23:59:59Z",
        pytest.param(
            (datetime.now(UTC) + timedelta(days=2)).isoformat(), id="two-days-ahead"
        ),  # an id of its own: the stamp differs in each collecting process
    ],
)
def test_times_outside_the_window_are_refused(make_event: EventFactory, stamp: str) -> None:
    refusal = _refusal(make_event(timestamp=stamp))
    assert refusal.code == "timestamp_out_of_range"
    assert refusal.message.startswith("timestamp:")


@pytest.mark.parametrize(
    ("stamp", "utc_ms"),
    [
        ("2010-12-01T08:26:00+05:00", 1291173960000),  # the UCI Online Retail data's first day
        ("2000-01-01T00:00:00Z", 946684800000),
    ],
)
def test_old_data_set_times_are_accepted_in_utc(
    make_event: EventFactory, stamp: str, utc_ms: int
) -> None:
    assert _row(make_event(timestamp=stamp))["timestamp"] == utc_ms


def test_a_fast_device_clock_is_accepted_within_a_day(make_event: EventFactory) -> None:
    _row(make_event(timestamp=(datetime.now(UTC) + timedelta(hours=20)).isoformat()))


def test_skew_correction_never_overflows() -> None:
    received = datetime(2026, 3, 1, tzinfo=UTC)
    start, end = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    assert corrected_time(start, end, received) is None
    assert corrected_time(end, start, received) == received
    assert corrected_time(end, None, received) == end  # validation refuses it


def test_a_segment_time_corrected_off_the_calendar_is_refused_per_message() -> None:
    received = datetime(2026, 3, 1, tzinfo=UTC)
    message = {
        "type": "track",
        "event": "Product Viewed",
        "userId": "u",
        "properties": {"product_id": "p"},
        "timestamp": "0001-01-01T00:00:00Z",
    }
    sent = datetime(9999, 12, 31, tzinfo=UTC)
    out = SegmentTranslator().translate(message, received, sent)
    assert isinstance(out, Untranslatable) and out.code == "timestamp_out_of_range"
    uncorrected = SegmentTranslator().translate(message, received)
    assert isinstance(uncorrected, dict)
    assert _refusal(uncorrected).code == "timestamp_out_of_range"


def test_a_segment_message_nested_too_deep_is_refused_before_any_recursion() -> None:
    message = {"type": "track", "event": "Product Viewed", "userId": "u"}
    message["properties"] = {"product_id": "p", "d": _nested(600)}
    out = SegmentTranslator().translate(message, datetime.now(UTC))
    assert isinstance(out, Untranslatable) and out.code == "too_deep"
    assert orjson.dumps(out.raw)  # the dead-letter row can be written


# -- through the API ------------------------------------------------------------------------


def _settled(client: TestClient) -> None:
    rt: Runtime = client.app.runtime  # type: ignore[attr-defined]
    with rt.engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(events_table.c.id))).scalar_one_or_none()
    assert rt.bus.wait_until_consumed(last or 0, timeout=10)


def test_a_batch_with_every_kind_of_bad_event_stores_the_good_ones(
    client: TestClient,
    write_auth: dict[str, str],
    secret_auth: dict[str, str],
    admin_auth: dict[str, str],
    make_event: EventFactory,
) -> None:
    shopper = f"s-{uuid.uuid4().hex[:8]}"
    batch = [
        make_event(anonymous_id="   "),  # regression: a 500 for the whole batch
        make_event(anonymous_id=shopper, user_id="   "),  # regression: merged strangers
        make_event(message_id="   "),  # regression: later events dropped as duplicates
        make_event(anonymous_id=shopper, properties={"product_id": "p", "d": _nested(300)}),
        make_event(anonymous_id=shopper, timestamp="9999-12-31T23:59:59-01:00"),
        make_event(anonymous_id="a\x00b"),
        make_event(anonymous_id=f" {shopper} "),
        make_event(anonymous_id=shopper, properties={"product_id": "p2"}),
    ]
    response = client.post("/v1/events", json={"batch": batch}, headers=write_auth)
    assert response.status_code == 200, response.text
    body = response.json()
    codes = [(r["index"], r["code"]) for r in body["rejected"]]
    assert codes == [
        (0, "blank_id"),
        (1, "blank_id"),
        (2, "blank_id"),
        (3, "too_deep"),
        (4, "timestamp_out_of_range"),
        (5, "nul_character"),
    ]
    assert body["accepted"] == 2
    _settled(client)
    profile = client.get(f"/v1/profiles/{shopper}", headers=secret_auth)
    assert profile.status_code == 200, profile.text
    read = client.get(f"/v1/profiles/{shopper}/events", headers=secret_auth)
    assert read.status_code == 200, read.text
    assert sorted(e["message_id"] for e in read.json()["events"]) == sorted(
        e["message_id"] for e in batch[6:]
    )
    letters = client.get("/v1/dead-letters", headers=admin_auth).json()["dead_letters"]
    assert sorted(letter["code"] for letter in letters) == sorted(code for _i, code in codes)


def test_a_body_deeper_than_the_parser_allows_is_a_clean_400(
    client: TestClient, write_auth: dict[str, str]
) -> None:
    body = b'{"batch": [' + b"[" * 5000 + b"]" * 5000 + b"]}"
    headers = {**write_auth, "Content-Type": "application/json"}
    response = client.post("/v1/events", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    segment = client.post("/segment/v1/batch", content=body, headers=headers)
    assert segment.status_code == 400


def test_a_segment_batch_across_the_calendar_is_answered_per_message(
    client: TestClient, write_auth: dict[str, str]
) -> None:
    """Regression: sentAt and timestamp at opposite ends of the calendar gave a 500."""
    viewed = {"type": "track", "event": "Product Viewed", "properties": {"product_id": "p"}}
    batch = {
        "sentAt": "9999-12-31T23:59:59Z",
        "batch": [
            {**viewed, "anonymousId": "cal", "timestamp": "0001-01-01T00:00:00Z"},
            {**viewed, "anonymousId": "cal", "messageId": f"m-{uuid.uuid4().hex}"},
            {**viewed, "anonymousId": "deep", "properties": {"d": _nested(400)}},
        ],
    }
    response = client.post("/segment/v1/batch", json=batch, headers=write_auth)
    assert response.status_code == 200, response.text
    rt: Runtime = client.app.runtime  # type: ignore[attr-defined]
    with rt.engine.connect() as conn:
        stored = conn.execute(sa.select(events_table.c.anonymous_id)).scalars().all()
    assert stored == ["cal"]
