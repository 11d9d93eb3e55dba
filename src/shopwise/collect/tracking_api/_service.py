"""The Segment-compatible ingestion service: request bodies in, envelopes through the collector.

API-independent like the collector it feeds: it decodes a (possibly gzip) body within Segment's
limits, translates each message, hands the envelopes to :class:`shopwise.collect.Collector` (one
validation, one dedupe, one dead-letter path for every source) and writes the messages that could
not be translated at all to the dead-letter table with their reason. When a batch links identities
(identify, alias, or an event carrying both ids) it waits, briefly, until profiles are stitched,
as ``/v1/identify`` does.
"""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson

from shopwise.auth import KeyKind
from shopwise.bus import Bus
from shopwise.collect import Collector, GroupCommitWriter, IngestResult, Rejection
from shopwise.collect.tracking_api._translate import (
    SegmentTranslator,
    Untranslatable,
    is_identity_event,
    parse_time,
)
from shopwise.errors import InvalidInput, PayloadTooLarge
from shopwise.schema import Columns, utc_ms

MAX_SEGMENT_EVENT_BYTES: Final = 32 * 1024
"""Segment's limit for one call (the single-call endpoints' body limit)."""
MAX_SEGMENT_BATCH_BYTES: Final = 500 * 1024
"""Segment's limit for one ``/v1/batch`` request (after decompression)."""
STITCH_TIMEOUT_SECONDS: Final = 2.0


def decode_body(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body, gunzipped when ``Content-Encoding: gzip``, refused past ``limit`` bytes.

    Decompression stops one byte past the limit, so a small body that inflates hugely costs
    no more than ``limit`` bytes of memory.
    """
    coding = (encoding or "identity").strip().lower()
    if coding in ("identity", ""):
        data = body
    elif coding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            data = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise InvalidInput(f"body is not valid gzip: {exc}", code="malformed_gzip") from None
    else:
        raise InvalidInput(
            f"Content-Encoding {encoding!r} is not supported (use gzip)",
            code="unsupported_encoding",
        )
    if len(data) > limit:
        raise PayloadTooLarge(f"request body is over {limit} bytes (decompressed)")
    return data


def parse_object(data: bytes) -> dict[str, Any]:
    """The JSON object of a request body."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", code="malformed_json") from None
    if not isinstance(payload, dict):
        raise InvalidInput("body must be a JSON object", code="invalid_body")
    return payload


def batch_messages(payload: Mapping[str, Any]) -> list[Any]:
    """The messages of a ``/v1/batch`` body: ``{"batch": [...], "context": ..., "sentAt": ...}``."""
    batch = payload.get("batch")
    if not isinstance(batch, list):
        raise InvalidInput("batch: must be an array of messages", code="invalid_batch")
    return batch


def _with_context(message: Any, shared: Any) -> Any:
    """A batch's top-level ``context`` applies to each message; the message's own fields win."""
    if not isinstance(message, dict) or not isinstance(shared, dict) or not shared:
        return message
    own = message.get("context")
    return {**message, "context": {**shared, **(own if isinstance(own, dict) else {})}}


def _dead_row(failed: Untranslatable, received_ms: int, key_id: str | None) -> dict[str, Any]:
    raw = orjson.dumps(failed.raw, default=str).decode()
    return {
        Columns.RECEIVED: received_ms,
        "key_id": key_id,
        "fingerprint": hashlib.sha256(raw.encode()).hexdigest(),
        "raw": raw,
        "code": failed.code,
        "message": failed.message,
    }


@dataclass(frozen=True)
class SegmentResult:
    """What became of a request's messages (indices are positions in the request)."""

    accepted: int
    duplicates: int
    rejected: list[Rejection] = field(default_factory=list)


class SegmentIngest:
    """Ingests Segment/RudderStack messages through the collector (see module docstring)."""

    def __init__(
        self,
        collector: Collector,
        writer: GroupCommitWriter,
        bus: Bus,
        translator: SegmentTranslator | None = None,
    ) -> None:
        self._collector = collector
        self._writer = writer
        self._bus = bus
        self._translator = translator or SegmentTranslator()

    async def ingest(
        self,
        messages: Sequence[Any],
        key_id: str | None,
        received_at: datetime,
        payload: Mapping[str, Any] | None = None,
        call_type: str | None = None,
        kind: KeyKind | None = None,
    ) -> SegmentResult:
        """Translate and store ``messages``; ``payload`` is the batch body (shared sentAt, context).

        ``kind`` is the request key's: a write key's user ids are claimed unless a message carries
        a valid user hash (see :meth:`shopwise.collect.Collector.ingest`).

        Returns after the accepted events are committed (and, for identity events, stitched).
        """
        shared = payload or {}
        sent_at = parse_time(shared.get("sentAt"))
        envelopes: list[dict[str, Any]] = []
        positions: list[int] = []
        failed: list[Rejection] = []
        dead: list[dict[str, Any]] = []
        received_ms = utc_ms(received_at)
        for index, message in enumerate(messages):
            merged = _with_context(message, shared.get("context"))
            out = self._translator.translate(merged, received_at, sent_at, call_type)
            if isinstance(out, Untranslatable):
                row = _dead_row(out, received_ms, key_id)
                dead.append(row)
                failed.append(Rejection(index, out.code, out.message, row["raw"]))
            else:
                envelopes.append(out)
                positions.append(index)
        pending = self._writer.submit([], dead) if dead else None
        result = await self._collector.ingest_async(envelopes, key_id, kind)
        if pending is not None:
            await asyncio.wrap_future(pending)
        await self._stitch(result, envelopes)
        rejected = [
            Rejection(positions[r.index], r.code, r.message, r.raw) for r in result.rejected
        ]
        return SegmentResult(
            result.accepted, result.duplicates, sorted(failed + rejected, key=lambda r: r.index)
        )

    async def _stitch(self, result: IngestResult, envelopes: Sequence[dict[str, Any]]) -> None:
        if result.last_event_id and any(is_identity_event(e) for e in envelopes):
            await asyncio.to_thread(
                self._bus.wait_until_consumed, result.last_event_id, STITCH_TIMEOUT_SECONDS
            )
