"""Segment and RudderStack messages translated into our event envelope, one message at a time.

The translator only reshapes: it never decides whether an event is valid. What it produces is a raw
envelope dict for :meth:`shopwise.collect.Collector.ingest_async`, so a Segment event goes through
the same validation, dedupe (by ``message_id``, Segment's ``messageId``) and dead-letter path as
one sent to ``/v1/events``. Only what cannot be shaped into an envelope at all (no call type, a
track call with no event name, an unreadable timestamp, a message over 32 KB or nested deeper than
validation allows) comes back as an :class:`Untranslatable` with its reason, for the dead-letter
table. Timestamps are corrected for the client's clock skew the way Segment does it:
``timestamp + (receivedAt - sentAt)``; a correction that leaves the calendar is refused, and
validation refuses corrected times outside its window like any other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from pydantic import BaseModel, ConfigDict, Field

from shopwise.collect import MAX_EVENT_BYTES
from shopwise.collect._validate import TOO_DEEP, kept_levels, nesting_exceeds
from shopwise.collect.tracking_api._mapping import (
    DEFAULT_CONSENT_CATEGORIES,
    ConsentTarget,
    category_key,
    event_type_for,
    map_consent,
    map_traits,
    track_properties,
)
from shopwise.schema import Columns, EventType

CALL_TYPES: Final = ("track", "identify", "page", "screen", "alias", "group")
"""The Segment call types (``type`` of a message), each also a single-call endpoint."""

EVENT_NAME_PROPERTY: Final = "event_name"
"""Property that keeps the original Segment event name of a ``custom:`` event."""

TRAIT_SOURCE: Final = "segment"
"""``source`` recorded with traits set through the Segment-compatible API."""

_PAGE_FIELDS: Final = ("url", "path", "referrer", "title")
_CAMPAIGN_FIELDS: Final = ("source", "medium", "name", "term", "content")
_IDENTITY_TYPES: Final = frozenset({EventType.IDENTIFY, EventType.ALIAS})


class TrackingApiConfig(BaseModel):
    """How Segment payloads are read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_currency: str | None = Field(default="USD", pattern=r"^[A-Z]{3}$")
    """Currency of order revenue sent without one (Segment assumes US dollars); ``None`` refuses."""
    consent_categories: dict[str, ConsentTarget] = Field(
        default_factory=lambda: dict(DEFAULT_CONSENT_CATEGORIES)
    )
    """Consent category (lower case, ``_`` for other characters) -> purpose, or ``do_not_sell``."""
    correct_clock_skew: bool = True
    """Shift timestamps by ``receivedAt - sentAt`` (Segment's correction of device clocks)."""


@dataclass(frozen=True)
class Untranslatable:
    """A message that could not be shaped into an envelope; ``raw`` is kept as dead letter."""

    code: str
    message: str
    raw: Any


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 time (UTC assumed when no offset is given); ``None`` when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def corrected_time(
    stamp: datetime, sent_at: datetime | None, received_at: datetime
) -> datetime | None:
    """``stamp + (received_at - sent_at)``, never later than ``received_at``; ``None`` when the
    sum falls before the first year a ``datetime`` holds (times at opposite ends of the calendar).

    The device clock that wrote ``stamp`` also wrote ``sent_at``, so their difference is trusted
    while the device's absolute time is not.
    """
    if sent_at is None:
        return stamp
    shift = received_at - sent_at  # a timedelta holds any difference of two datetimes
    try:
        return min(stamp + shift, received_at)
    except OverflowError:
        # past the last year: later than received_at, which wins; before the first: no time
        return received_at if shift > timedelta(0) else None


def message_id_of(message: Mapping[str, Any]) -> str:
    """``messageId``, or a stable hash of the message (so a resent message is still a duplicate)."""
    given = message.get("messageId")
    if isinstance(given, str | int) and not isinstance(given, bool) and str(given).strip():
        return str(given)
    stable = {k: v for k, v in message.items() if k not in ("sentAt", "receivedAt", "writeKey")}
    digest = hashlib.sha256(orjson.dumps(stable, option=orjson.OPT_SORT_KEYS, default=str))
    return "seg_" + digest.hexdigest()[:40]


def _text_fields(source: Any, names: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(source, dict):
        return {}
    return {name: source[name] for name in names if isinstance(source.get(name), str)}


class SegmentTranslator:
    """Turns Segment/RudderStack messages into raw envelopes (see module docstring)."""

    def __init__(self, config: TrackingApiConfig | None = None) -> None:
        self.config = config or TrackingApiConfig()
        self._consent_table = {
            category_key(k): v for k, v in self.config.consent_categories.items()
        }

    def translate(
        self,
        message: Any,
        received_at: datetime,
        sent_at: datetime | None = None,
        call_type: str | None = None,
    ) -> dict[str, Any] | Untranslatable:
        """The envelope for ``message`` (a raw dict), or why there is none.

        ``sent_at`` is the batch's ``sentAt`` (a message's own wins); ``call_type`` is set by the
        single-call endpoints (``/v1/track`` ...) and wins over the message's ``type``.
        """
        if not isinstance(message, dict):
            return Untranslatable("not_an_object", "message must be a JSON object", message)
        if nesting_exceeds(message):  # before anything recursive reads it (orjson included)
            return Untranslatable("too_deep", TOO_DEEP, kept_levels(message))
        size = len(orjson.dumps(message, default=str))
        if size > MAX_EVENT_BYTES:
            return Untranslatable(
                "event_too_large", f"message is {size} bytes; limit {MAX_EVENT_BYTES}", message
            )
        kind = call_type or message.get("type")
        if kind not in CALL_TYPES:
            return Untranslatable(
                "unknown_call_type",
                f"type: {kind!r} is not a Segment call ({', '.join(CALL_TYPES)})",
                message,
            )
        shaped = self._shape(str(kind), message)
        if isinstance(shaped, Untranslatable):
            return shaped
        event_type, properties = shaped
        when = self._timestamp(message, received_at, sent_at)
        if isinstance(when, Untranslatable):
            return when
        envelope: dict[str, Any] = {
            Columns.MESSAGE: message_id_of(message),
            Columns.TYPE: event_type,
            Columns.TIME: when,
            Columns.CONTEXT: self._context(message, kind),
            Columns.PROPERTIES: properties,
        }
        for ours, theirs in ((Columns.USER, "userId"), (Columns.ANONYMOUS, "anonymousId")):
            if message.get(theirs) not in (None, ""):
                envelope[ours] = message[theirs]
        user_hash = _user_hash(message)
        if user_hash is not None:
            envelope["user_hash"] = user_hash
        return envelope

    # -- per call type --------------------------------------------------------------------

    def _shape(
        self, kind: str, message: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]] | Untranslatable:
        """(our event type, our properties) for one call."""
        properties = message.get("properties")
        props: dict[str, Any] = dict(properties) if isinstance(properties, dict) else {}
        if kind == "track":
            return self._track(message, props)
        if kind == "identify":
            return EventType.IDENTIFY, self._identify(message)
        if kind == "alias":
            return EventType.ALIAS, {"previous_id": message.get("previousId")}
        if kind == "group":
            traits = message.get("traits")
            group = {"group_id": message.get("groupId"), "traits": traits or {}}
            return "custom:group", {k: v for k, v in group.items() if v is not None}
        for name in ("name", "category"):  # page and screen
            if isinstance(message.get(name), str):
                props[name] = message[name]
        if kind == "screen":
            props["screen"] = True
        return EventType.PAGE_VIEWED, props

    def _track(
        self, message: Mapping[str, Any], props: dict[str, Any]
    ) -> tuple[str, dict[str, Any]] | Untranslatable:
        event = message.get("event")
        if not isinstance(event, str) or not event.strip():
            return Untranslatable("missing_event_name", "event: a track call needs a name", message)
        event_type = event_type_for(event)
        if event_type is None:
            return Untranslatable(
                "unnamed_event", f"event: {event!r} gives no usable event name", message
            )
        props = track_properties(event_type, props, self.config.default_currency)
        if event_type.startswith("custom:"):
            props[EVENT_NAME_PROPERTY] = event
        return event_type, props

    @staticmethod
    def _identify(message: Mapping[str, Any]) -> dict[str, Any]:
        """Traits from ``traits`` or ``context.traits`` (where RudderStack's SDKs put them)."""
        context = message.get("context")
        merged: dict[str, Any] = {}
        for source in (
            context.get("traits") if isinstance(context, dict) else None,
            message.get("traits"),
        ):
            if isinstance(source, dict):
                merged.update(source)
        traits, refused = map_traits(merged)
        props: dict[str, Any] = {"traits": traits, "source": TRAIT_SOURCE}
        if refused:
            props["refused_traits"] = refused
        return props

    # -- shared fields --------------------------------------------------------------------

    def _timestamp(
        self, message: Mapping[str, Any], received_at: datetime, batch_sent: datetime | None
    ) -> datetime | Untranslatable:
        """The event's time, corrected for clock skew; validation judges whether it is sane."""
        raw = message.get("timestamp") or message.get("originalTimestamp")
        if raw is None:
            return received_at
        stamp = parse_time(raw)
        if stamp is None:
            return Untranslatable(
                "invalid_timestamp", "timestamp: not an ISO-8601 date-time", message
            )
        if not self.config.correct_clock_skew:
            return stamp
        sent = parse_time(message.get("sentAt")) or batch_sent
        corrected = corrected_time(stamp, sent, received_at)
        if corrected is None:
            return Untranslatable(
                "timestamp_out_of_range",
                "timestamp: corrected for clock skew (timestamp + receivedAt - sentAt) it falls "
                "before the year 1",
                message,
            )
        return corrected

    def _context(self, message: Mapping[str, Any], kind: str) -> dict[str, Any]:
        """Our context from Segment's; fields our context has no place for are not kept."""
        source = message.get("context")
        theirs: Mapping[str, Any] = source if isinstance(source, dict) else {}
        ours: dict[str, Any] = {}
        page = _text_fields(theirs.get("page"), _PAGE_FIELDS)
        if not page and kind == "page":
            page = _text_fields(message.get("properties"), _PAGE_FIELDS)
        if page:
            ours["page"] = page
        campaign = _text_fields(theirs.get("campaign"), _CAMPAIGN_FIELDS)
        if campaign:
            ours["campaign"] = campaign
        for name, theirs_name in (("user_agent", "userAgent"), ("locale", "locale"), ("ip", "ip")):
            if isinstance(theirs.get(theirs_name), str):
                ours[name] = theirs[theirs_name]
        library = theirs.get("library")
        if isinstance(library, dict):
            ours["library"] = {str(k): str(v) for k, v in library.items() if v is not None}
        if "consent" in theirs or "consentManagement" in theirs:
            consent = self._consent(theirs)
            if consent is not None:
                ours["consent"] = consent
        return ours

    def _consent(self, context: Mapping[str, Any]) -> dict[str, Any] | None:
        """Segment's ``consent.categoryPreferences``, or RudderStack's ``consentManagement``."""
        choices: dict[str, bool] = {}
        segment = context.get("consent")
        if isinstance(segment, dict) and isinstance(segment.get("categoryPreferences"), dict):
            prefs = segment["categoryPreferences"]
            choices.update({str(k): bool(v) for k, v in prefs.items() if isinstance(v, bool)})
        rudder = context.get("consentManagement")
        if isinstance(rudder, dict):
            for field, granted in (("allowedConsentIds", True), ("deniedConsentIds", False)):
                ids = rudder.get(field)
                if isinstance(ids, list):
                    choices.update({str(i): granted for i in ids})
        return map_consent(choices, self._consent_table) if choices else None


def _user_hash(message: Mapping[str, Any]) -> Any:
    """The identity-verification hash of a message: ``context.user_hash``,
    ``integrations.shopwise.user_hash`` or a top-level ``userHash`` (the envelope checks it)."""
    context, integrations = message.get("context"), message.get("integrations")
    ours = integrations.get("shopwise") if isinstance(integrations, dict) else None
    for source, name in ((context, "user_hash"), (ours, "user_hash"), (message, "userHash")):
        if isinstance(source, dict) and source.get(name) not in (None, ""):
            return source[name]
    return None


def is_identity_event(envelope: Mapping[str, Any]) -> bool:
    """Whether the envelope links identities (so profiles should be stitched before answering)."""
    return envelope.get(Columns.TYPE) in _IDENTITY_TYPES or (
        envelope.get(Columns.USER) is not None and envelope.get(Columns.ANONYMOUS) is not None
    )


def received_now() -> datetime:
    """The receive time of a request (UTC, millisecond precision like the event store)."""
    now = datetime.now(UTC)
    return now - timedelta(microseconds=now.microsecond % 1000)
