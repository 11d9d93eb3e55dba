"""Event validation per type, with hypothesis-generated valid and invalid events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopwise.collect import Rejection, system_row, validate_event
from shopwise.schema import PROPERTIES, EventType, required_properties

ids = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20),
    st.integers(min_value=0, max_value=10**9),
)
money = st.floats(min_value=0, max_value=1e6, allow_nan=False)
text = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])
"""JSON text as a request carries it: a NUL is refused anywhere (issue 22), and a lone surrogate
is not text (orjson refuses it; only imports could hold one, refused as `not_json`)."""
product_line = st.fixed_dictionaries(
    {"product_id": ids}, optional={"quantity": st.integers(1, 20), "price": money}
)

FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "product_id": ids,
    "order_id": ids,
    "promotion_id": ids,
    "recommendation_id": ids,
    "email_id": ids,
    "previous_id": ids,
    "products": st.lists(product_line, min_size=1, max_size=5),
    "revenue": money,
    "currency": st.sampled_from(["EUR", "USD", "GBP"]),
    "query": st.text(text, max_size=50),
    "filters": st.lists(st.fixed_dictionaries({"type": st.text(text, max_size=5)}), max_size=3),
    "rating": st.floats(min_value=0, max_value=5),
    "url": st.text(text, max_size=40),
    "active_seconds": st.floats(min_value=0, max_value=86_400),
}


def _properties(event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {name: FIELD_VALUES[name] for name in required_properties(event_type)}
    )


def _envelope(event_type: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    event = {
        "message_id": "m-1",
        "type": event_type,
        "user_id": "u-1",
        "timestamp": datetime(2026, 1, 2, tzinfo=UTC).isoformat(),
        "properties": properties,
    }
    event.update(extra)
    return event


def test_every_type_has_values_for_its_required_properties() -> None:
    for event_type in PROPERTIES:
        assert set(required_properties(event_type)) <= set(FIELD_VALUES), event_type
    assert required_properties(EventType.ORDER_COMPLETED) == [
        "order_id",
        "products",
        "revenue",
        "currency",
    ]


@pytest.mark.parametrize("event_type", list(PROPERTIES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_valid_events_are_accepted(event_type: str, data: st.DataObject) -> None:
    properties = data.draw(_properties(event_type))
    row = validate_event(_envelope(event_type, properties), 0, 123)
    assert not isinstance(row, Rejection), row
    assert row["type"] == event_type
    assert row["timestamp"] == int(datetime(2026, 1, 2, tzinfo=UTC).timestamp() * 1000)
    if "product_id" in properties and event_type != EventType.RECOMMENDATION_VIEWED:
        assert row["product_id"] == str(properties["product_id"])


@pytest.mark.parametrize("event_type", [t for t in PROPERTIES if required_properties(t)])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_missing_required_property_is_rejected_naming_it(
    event_type: str, data: st.DataObject
) -> None:
    properties = data.draw(_properties(event_type))
    missing = data.draw(st.sampled_from(required_properties(event_type)))
    del properties[missing]
    result = validate_event(_envelope(event_type, properties), 3, 0)
    assert isinstance(result, Rejection)
    assert (result.index, result.code) == (3, "invalid_properties")
    assert f"properties.{missing}" in result.message


@settings(max_examples=50, deadline=None)
@given(
    field=st.text(text, min_size=1, max_size=12).filter(
        lambda f: (
            f
            not in {
                "message_id",
                "type",
                "anonymous_id",
                "user_id",
                "timestamp",
                "context",
                "properties",
            }
        )
    )
)
def test_unknown_top_level_fields_are_rejected(field: str) -> None:
    event = _envelope("page_viewed", {}, **{field: 1})
    result = validate_event(event, 0, 0)
    assert isinstance(result, Rejection) and result.code == "invalid_envelope"


def test_identity_and_timestamp_rules() -> None:
    no_identity = _envelope("page_viewed", {})
    del no_identity["user_id"]
    result = validate_event(no_identity, 0, 0)
    assert isinstance(result, Rejection) and result.code == "missing_identity"
    naive = _envelope("page_viewed", {}, timestamp="2026-01-02T00:00:00")
    result = validate_event(naive, 0, 0)
    assert isinstance(result, Rejection) and "timestamp" in result.message


@given(name=st.from_regex(r"[a-z0-9][a-z0-9_]{0,20}", fullmatch=True))
def test_custom_events_need_a_clean_name(name: str) -> None:
    assert not isinstance(validate_event(_envelope(f"custom:{name}", {"x": 1}), 0, 0), Rejection)
    bad = validate_event(_envelope(f"custom:{name.upper()}!", {}), 0, 0)
    assert isinstance(bad, Rejection) and bad.code == "unknown_type"


def test_consent_and_context_are_kept() -> None:
    context = {
        "page": {"url": "https://shop.example/p/1"},
        "campaign": {"source": "news", "medium": "email"},
        "consent": {"purposes": {"personalization": False}, "do_not_sell": True},
    }
    row = validate_event(_envelope("page_viewed", {}, context=context), 0, 0)
    assert not isinstance(row, Rejection)
    assert row["context"]["consent"] == {
        "purposes": {"personalization": False},
        "do_not_sell": True,
    }
    bad = validate_event(
        _envelope("page_viewed", {}, context={"consent": {"purposes": {"x": 1}}}), 0, 0
    )
    assert isinstance(bad, Rejection) and "context.consent" in bad.message


@given(
    anonymous=st.one_of(st.none(), st.text("abc-_0123456789", min_size=1, max_size=20)),
    user=st.one_of(st.none(), st.text("uvw0123456789", min_size=1, max_size=20)),
    products=st.lists(st.text("abcdefghk-0123456789", min_size=1, max_size=12), max_size=20),
    version=st.one_of(st.none(), st.text("0123456789TZ", min_size=1, max_size=20)),
    millis=st.integers(min_value=946_684_800_000, max_value=1_764_547_200_000),  # in the window
)
def test_system_rows_are_the_rows_validation_makes(
    anonymous: str | None, user: str | None, products: list[str], version: str | None, millis: int
) -> None:
    """Exposures skip validation on the serving path; their rows must not differ for it."""
    properties = {
        "recommendation_id": "r1",
        "product_ids": products,
        "placement": "home",
        "model_version": version,
        "rules_version": 3,
        "fallback": None if version else "popular",
    }
    raw: dict[str, Any] = {
        "message_id": "exp-r1",
        "type": "recommendation_viewed",
        "timestamp": datetime.fromtimestamp(millis / 1000, UTC).isoformat(),
        "properties": properties,
    }
    if anonymous is not None:
        raw["anonymous_id"] = anonymous
    if user is not None:
        raw["user_id"] = user
    validated = validate_event(raw, 0, received_at=0)
    made = system_row(
        "exp-r1", EventType.RECOMMENDATION_VIEWED, anonymous, user, millis, properties
    )
    if anonymous is None and user is None:
        assert isinstance(validated, Rejection)  # serving never logs an exposure without an id
    else:
        assert made == validated
