"""The Segment-compatible tracking API: Segment and RudderStack payloads in our envelope.

Event names, consent categories and traits are mapped (``_mapping``), each call is translated
(``_translate``) and batches are decoded and ingested per event (``_service``).
"""

from shopwise.collect.tracking_api._mapping import (
    DEFAULT_CONSENT_CATEGORIES,
    EVENT_NAMES,
    event_type_for,
    map_consent,
    map_traits,
)
from shopwise.collect.tracking_api._service import (
    MAX_SEGMENT_BATCH_BYTES,
    MAX_SEGMENT_EVENT_BYTES,
    SegmentIngest,
    SegmentResult,
    batch_messages,
    decode_body,
    parse_object,
)
from shopwise.collect.tracking_api._translate import (
    CALL_TYPES,
    EVENT_NAME_PROPERTY,
    SegmentTranslator,
    TrackingApiConfig,
    Untranslatable,
    corrected_time,
    message_id_of,
    received_now,
)
from shopwise.schema import DO_NOT_SELL

__all__ = [
    "CALL_TYPES",
    "DEFAULT_CONSENT_CATEGORIES",
    "DO_NOT_SELL",
    "EVENT_NAMES",
    "EVENT_NAME_PROPERTY",
    "MAX_SEGMENT_BATCH_BYTES",
    "MAX_SEGMENT_EVENT_BYTES",
    "SegmentIngest",
    "SegmentResult",
    "SegmentTranslator",
    "TrackingApiConfig",
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
