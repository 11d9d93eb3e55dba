"""Validation of raw events into store rows, or into rejections that keep the raw payload.

Validation is per event, so one bad event never costs the good ones beside it in a batch. The row
is minimized as it is built (:mod:`._minimize`): undeclared properties the shop does not allow are
dropped and the IP address is truncated, so neither ever reaches the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson
from pydantic import ValidationError

from shopwise.collect._minimize import Minimizer, truncate_ip
from shopwise.schema import (
    CUSTOM_PREFIX,
    Columns,
    Context,
    Envelope,
    EventType,
    properties_model,
    utc_ms,
)

MAX_EVENT_BYTES: Final = 32 * 1024
DECLARED_ONLY: Final = Minimizer()
"""The default minimizer: keeps what the types' models declare and what shopwise reads."""


@dataclass(frozen=True)
class Rejection:
    """Why one event of a batch was refused; ``raw`` is kept for the dead-letter table."""

    index: int
    code: str
    message: str
    raw: str

    def public(self) -> dict[str, object]:
        return {"index": self.index, "code": self.code, "message": self.message}


def _describe(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors()[:3]:
        field = ".".join(str(p) for p in err["loc"])
        parts.append(f"{prefix}{field}: {err['msg']}")
    return "; ".join(parts)


def _raw_text(raw: Any) -> str:
    return orjson.dumps(raw, default=str).decode()


def _item_of(event_type: str, properties: dict[str, Any]) -> str | None:
    if event_type == EventType.RECOMMENDATION_VIEWED:
        return None
    product = properties.get(Columns.ITEM)
    return product if isinstance(product, str) else None


def system_row(
    message_id: str,
    event_type: str,
    anonymous_id: str | None,
    user_id: str | None,
    timestamp: int,
    properties: dict[str, Any],
) -> dict[str, Any]:
    """The ``events`` row of an event shopwise makes itself (an exposure), without validation.

    The row is the one :func:`validate_event` makes of the same event sent as JSON (a test holds
    them equal); the fields are shopwise's own, so checking them again would only cost time on
    the serving path. ``timestamp`` is epoch milliseconds; ``None`` properties are left out, as
    validation leaves them out (``properties`` itself becomes the row's when it holds none: the
    caller hands it over). ``received_at`` is filled in by the collector.
    """
    if None in properties.values():
        properties = {k: v for k, v in properties.items() if v is not None}
    return {
        Columns.MESSAGE: message_id,
        Columns.TYPE: event_type,
        Columns.ANONYMOUS: anonymous_id,
        Columns.USER: user_id,
        Columns.TIME: timestamp,
        Columns.RECEIVED: 0,
        Columns.ITEM: None,
        Columns.CONTEXT: {},
        Columns.PROPERTIES: properties,
    }


def _stored_context(context: Context) -> dict[str, Any]:
    """The context to store: the IP address truncated, or left out when it is not one."""
    stored = context.model_dump(mode="json", exclude_none=True)
    if context.ip is not None:
        network = truncate_ip(context.ip)
        if network is None:
            del stored["ip"]
        else:
            stored["ip"] = network
    return stored


def validate_event(
    raw: Any, index: int, received_at: int, minimizer: Minimizer = DECLARED_ONLY
) -> dict[str, Any] | Rejection:
    """A row for the ``events`` table, or the :class:`Rejection` that explains why not.

    Parameters
    ----------
    raw
        The event as sent (parsed JSON).
    index
        Its position in the batch, for the rejection.
    received_at
        Epoch milliseconds, stored with the row.
    minimizer
        Which undeclared properties the row keeps; by default none but those shopwise reads
        (:data:`~shopwise.collect.ALWAYS_KEPT`). The collector passes the shop's allow-list.
    """
    if not isinstance(raw, dict):
        return Rejection(index, "not_an_object", "event must be a JSON object", _raw_text(raw))
    text = _raw_text(raw)
    if len(text) > MAX_EVENT_BYTES:
        return Rejection(
            index, "event_too_large", f"event is {len(text)} bytes; limit {MAX_EVENT_BYTES}", text
        )
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        return Rejection(index, "invalid_envelope", _describe(exc), text)
    if envelope.anonymous_id is None and envelope.user_id is None:
        return Rejection(
            index, "missing_identity", "anonymous_id or user_id is required (at least one)", text
        )
    model = properties_model(envelope.type)
    if model is None:
        return Rejection(
            index,
            "unknown_type",
            f"type: {envelope.type!r} is not in the vocabulary; use '{CUSTOM_PREFIX}<name>' "
            "(lower case, digits, _ . -) for shop-specific events",
            text,
        )
    try:
        validated = model.model_validate(envelope.properties)
    except ValidationError as exc:
        return Rejection(index, "invalid_properties", _describe(exc, "properties."), text)
    properties = minimizer.properties(envelope.type, validated)
    return {
        Columns.MESSAGE: envelope.message_id,
        Columns.TYPE: envelope.type,
        Columns.ANONYMOUS: envelope.anonymous_id,
        Columns.USER: envelope.user_id,
        Columns.TIME: utc_ms(envelope.timestamp),
        Columns.RECEIVED: received_at,
        Columns.ITEM: _item_of(envelope.type, properties),
        Columns.CONTEXT: _stored_context(envelope.context),
        Columns.PROPERTIES: properties,
    }
