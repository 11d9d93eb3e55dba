"""Segment/RudderStack compatibility: their tracking payloads translated into our envelope."""

from shopwise.collect.segment._mapping import (
    DEFAULT_CONSENT_CATEGORIES,
    DO_NOT_SELL,
    EVENT_NAMES,
    event_type_for,
    map_consent,
    map_traits,
)
from shopwise.collect.segment._service import (
    MAX_SEGMENT_BATCH_BYTES,
    MAX_SEGMENT_EVENT_BYTES,
    SegmentIngest,
    SegmentResult,
    batch_messages,
    decode_body,
    parse_object,
)
from shopwise.collect.segment._translate import (
    CALL_TYPES,
    EVENT_NAME_PROPERTY,
    SegmentConfig,
    SegmentTranslator,
    Untranslatable,
    corrected_time,
    message_id_of,
    received_now,
)

__all__ = [
    "CALL_TYPES",
    "DEFAULT_CONSENT_CATEGORIES",
    "DO_NOT_SELL",
    "EVENT_NAMES",
    "EVENT_NAME_PROPERTY",
    "MAX_SEGMENT_BATCH_BYTES",
    "MAX_SEGMENT_EVENT_BYTES",
    "SegmentConfig",
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
