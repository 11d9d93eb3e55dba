"""Validation of raw events into store rows, or into rejections that keep the raw payload.

Validation is per event, so one bad event never costs the good ones beside it in a batch. The row
is minimized as it is built (:mod:`._minimize`): undeclared properties the shop does not allow are
dropped and the IP address is truncated, so neither ever reaches the store.

Input limits, each refused per event with its code (README, "Input limits"):

- ``too_deep``: objects and arrays nested more than :data:`MAX_DEPTH` levels, the event object
  being the first. Checked before anything recursive (pydantic, the JSON writer) sees the event.
- ``event_too_large``: more than :data:`MAX_EVENT_BYTES` of JSON.
- ``nul_character``: a NUL anywhere, in a key or a value (PostgreSQL stores none, in text or
  JSON). Other control characters are allowed in free text (a tab or a newline in a title is
  normal) and refused in ids (``control_character``); ids of whitespace alone are ``blank_id``.
- ``timestamp_out_of_range``: before :data:`EARLIEST_TIME` or more than :data:`MAX_FUTURE` past
  the server's clock. Imported data sets (the UCI Online Retail data is from 2010) stay well
  inside; a time before the web shop era or days ahead is a broken device clock, and a stored
  one far out used to break every later read of its profile (years past 9999 once in UTC).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from pydantic import TypeAdapter, ValidationError

from shopwise.collect._minimize import Minimizer, truncate_ip
from shopwise.schema import (
    CUSTOM_PREFIX,
    Columns,
    Context,
    Envelope,
    EventType,
    Id,
    properties_model,
    utc_ms,
)

MAX_EVENT_BYTES: Final = 32 * 1024
MAX_DEPTH: Final = 32
"""Levels of objects and arrays an event may nest, the event object itself being the first."""
TOO_DEEP: Final = f"event: objects and arrays nest more than {MAX_DEPTH} levels deep"
EARLIEST_TIME: Final = datetime(2000, 1, 1, tzinfo=UTC)
"""The earliest event time accepted."""
MAX_FUTURE: Final = timedelta(days=1)
"""How far past the server's clock an event time may lie (device clocks run fast, not days)."""
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


_OWN_CODES: Final = frozenset({"blank_id", "control_character", "nul_character"})
"""Error types of :mod:`shopwise.schema`'s own checks, answered as the event's code."""


def _describe(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors()[:3]:
        field = ".".join(str(p) for p in err["loc"])
        parts.append(f"{prefix}{field}: {err['msg']}")
    return "; ".join(parts)


def _code(exc: ValidationError, default: str) -> str:
    """The first error's own code (``blank_id`` ...) when it has one, else ``default``."""
    first = exc.errors()[0]["type"]
    return first if first in _OWN_CODES else default


def nesting_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` levels (``value`` itself
    being the first). Walks level by level, without recursion, and stops at ``limit + 1``."""
    level = [value] if isinstance(value, _CONTAINERS) else []
    for _ in range(limit):
        below = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, _CONTAINERS)
        ]
        if not below:
            return False
        level = below
    return True


_CONTAINERS: Final = (dict, list)  # a tuple: isinstance checks it faster than a union type


def json_text(value: Any) -> str:
    """``value`` as JSON text, whatever it holds: the dead-letter table keeps what was sent.

    orjson writes at most 255 levels and refuses lone surrogates and keys that are not text, so
    such values are written here without recursion, each scalar by the standard library
    (surrogates escaped, unknown objects as their ``str``).
    """
    try:
        return orjson.dumps(value, default=str).decode()
    except orjson.JSONEncodeError:
        return _written_without_recursion(value)


def kept_levels(value: Any, levels: int = MAX_DEPTH) -> Any:
    """``value`` down to ``levels`` levels of objects and arrays; each container below them is
    kept as its JSON text (a string), so a dead letter of an event nested too deep is whole, yet
    every reader of dead letters (PII sealing, replay, the listing) can walk it."""
    if not isinstance(value, dict | list):
        return value
    if levels == 0:
        return json_text(value)
    if isinstance(value, dict):
        return {key: kept_levels(child, levels - 1) for key, child in value.items()}
    return [kept_levels(child, levels - 1) for child in value]


def _written_without_recursion(value: Any) -> str:
    out: list[str] = []
    todo: list[tuple[bool, Any]] = [(False, value)]  # (is punctuation, what)
    while todo:
        literal, item = todo.pop()
        if literal:
            out.append(item)
        elif isinstance(item, dict | list):
            keyed = isinstance(item, dict)
            pairs = list(item.items()) if isinstance(item, dict) else [(None, c) for c in item]
            todo.append((True, "}" if keyed else "]"))
            for position in range(len(pairs) - 1, -1, -1):  # pushed last first, so read in order
                key, child = pairs[position]
                todo.append((False, child))
                if keyed:
                    todo.append((True, json.dumps(str(key)) + ":"))
                if position:
                    todo.append((True, ","))
            todo.append((True, "{" if keyed else "["))
        else:
            out.append(json.dumps(item, default=str))
    return "".join(out)


_ESCAPED_NUL: Final = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
"""A NUL in orjson's text: ``\\u0000`` after an even number of backslashes (an odd number
would make it a backslash followed by the letters ``u0000``)."""


def nul_path(value: Any) -> str | None:
    """The dotted path of the first key or text in ``value`` holding a NUL; ``None`` if none."""
    todo: list[tuple[str, Any]] = [("", value)]
    while todo:
        path, item = todo.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path or "event"
        elif isinstance(item, dict):
            for key, child in item.items():
                name = str(key).replace("\x00", "\\0")  # the path is sent back: no NUL in it
                where = f"{path}.{name}" if path else name
                if isinstance(key, str) and "\x00" in key:
                    return where
                todo.append((where, child))
        elif isinstance(item, list):
            todo.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
    return None


def _readable(raw: Any, index: int) -> str | Rejection:
    """The event's JSON text, or why the event cannot be read any further."""
    if not isinstance(raw, dict):
        text = json_text(kept_levels(raw))
        return Rejection(index, "not_an_object", "event must be a JSON object", text)
    if nesting_exceeds(raw):
        return Rejection(index, "too_deep", TOO_DEEP, json_text(kept_levels(raw)))
    try:
        text = orjson.dumps(raw, default=str).decode()
    except orjson.JSONEncodeError:
        return Rejection(
            index,
            "not_json",
            "event: holds what JSON cannot carry (a lone surrogate, an integer past 64 bits, "
            "a key that is not text)",
            json_text(raw),
        )
    if len(text) > MAX_EVENT_BYTES:
        return Rejection(
            index, "event_too_large", f"event is {len(text)} bytes; limit {MAX_EVENT_BYTES}", text
        )
    if "\\u0000" in text and _ESCAPED_NUL.search(text):
        path = nul_path(raw)
        if path is not None:
            return Rejection(index, "nul_character", f"{path}: must not contain a NUL", text)
    return text


def _time_refusal(moment: datetime, index: int, text: str) -> Rejection | None:
    """Why ``moment`` is refused (see module docstring), or ``None`` when it is accepted."""
    stamp = utc_ms(moment)
    if _EARLIEST_MS <= stamp <= int(time.time() * 1000) + _MAX_FUTURE_MS:
        return None
    return Rejection(
        index,
        "timestamp_out_of_range",
        f"timestamp: {moment.isoformat()} is outside the accepted window (from "
        f"{EARLIEST_TIME.date().isoformat()} to one day past the server's clock)",
        text,
    )


_EARLIEST_MS: Final = utc_ms(EARLIEST_TIME)
_MAX_FUTURE_MS: Final = MAX_FUTURE // timedelta(milliseconds=1)


def _item_of(event_type: str, properties: dict[str, Any]) -> str | None:
    """The row's product: a text ``product_id`` of any type, checked (and stripped) as an
    :data:`~shopwise.schema.Id` also where the type's model does not declare it.

    Raises
    ------
    ValidationError
        The ``product_id`` is blank or holds a control character.
    """
    if event_type == EventType.RECOMMENDATION_VIEWED:
        return None
    product = properties.get(Columns.ITEM)
    if not isinstance(product, str):
        return None
    clean = _PRODUCT_ID.validate_python(product)
    properties[Columns.ITEM] = clean
    return clean


_PRODUCT_ID: Final[TypeAdapter[str]] = TypeAdapter(Id)


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
    text = _readable(raw, index)
    if isinstance(text, Rejection):
        return text
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        return Rejection(index, _code(exc, "invalid_envelope"), _describe(exc), text)
    refused = _time_refusal(envelope.timestamp, index, text)
    if refused is not None:
        return refused
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
        return Rejection(
            index, _code(exc, "invalid_properties"), _describe(exc, "properties."), text
        )
    properties = minimizer.properties(envelope.type, validated)
    try:
        item = _item_of(envelope.type, properties)
    except ValidationError as exc:
        refusal = _describe(exc, f"properties.{Columns.ITEM}")
        return Rejection(index, _code(exc, "invalid_properties"), refusal, text)
    return {
        Columns.MESSAGE: envelope.message_id,
        Columns.TYPE: envelope.type,
        Columns.ANONYMOUS: envelope.anonymous_id,
        Columns.USER: envelope.user_id,
        Columns.TIME: utc_ms(envelope.timestamp),
        Columns.RECEIVED: received_at,
        Columns.ITEM: item,
        Columns.CONTEXT: _stored_context(envelope.context),
        Columns.PROPERTIES: properties,
    }
