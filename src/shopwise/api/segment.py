"""The Segment-compatible tracking API under ``/segment/v1`` (also spoken by RudderStack's SDKs).

Point an SDK's host at ``https://<shopwise>/segment`` and it posts to ``/segment/v1/batch`` as it
would to ``api.segment.io/v1/batch``. Routes: ``/batch`` (also ``/import``, and analytics.js's
``/b``), and one per call type, ``/track``, ``/identify``, ``/page``, ``/screen``, ``/alias``,
``/group`` (also analytics.js's one-letter forms ``/t``, ``/i``, ...). Authentication is Segment's:
HTTP Basic with the write key as user name and an empty password, or the ``writeKey`` field of the
body (analytics.js); a Bearer key works too. Bodies may be gzip. Limits are Segment's: 32 KB a
call, 500 KB a batch. The answer is Segment's ``{"success": true}`` once the accepted events are
committed; events that fail validation are dead-lettered with their reason, as on ``/v1/events``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any, Final

from fastapi import APIRouter, Request, Response

from shopwise.api._auth import runtime
from shopwise.api.events import read_body
from shopwise.auth import ApiKey, Scope
from shopwise.collect.segment import (
    CALL_TYPES,
    MAX_SEGMENT_BATCH_BYTES,
    MAX_SEGMENT_EVENT_BYTES,
    SegmentConfig,
    SegmentIngest,
    SegmentTranslator,
    batch_messages,
    decode_body,
    parse_object,
    received_now,
)
from shopwise.errors import AuthError

PREFIX: Final = "/segment/v1"
SUCCESS: Final = {"success": True}

Handler = Callable[[Request, Response], Awaitable[dict[str, bool]]]


def _header_key(request: Request) -> str | None:
    """The write key of an ``Authorization`` header (Basic ``key:`` or Bearer), if one is sent."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token:
        return token
    if scheme.lower() != "basic" or not token:
        raise AuthError("Authorization header must be 'Basic base64(<write key>:)'")
    try:
        user, _, _password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthError("Authorization header: Basic credentials are not base64") from None
    if not user:
        raise AuthError("Authorization header: the write key is the Basic user name")
    return user


def _authorize(request: Request, plaintext: Any) -> ApiKey:
    if not isinstance(plaintext, str) or not plaintext:
        raise AuthError("missing write key: send HTTP Basic '<write key>:' or 'writeKey'")
    rt = runtime(request)
    key = rt.keys.verify(plaintext)
    key.require(Scope.EVENTS_WRITE)
    rt.limiter.take(key.id)
    return key


async def _receive(request: Request, limit: int) -> tuple[ApiKey, dict[str, Any]]:
    """The request's key and JSON body; a header key is checked before the body is read."""
    from_header = _header_key(request)
    key = _authorize(request, from_header) if from_header is not None else None
    body = decode_body(
        await read_body(request, limit), request.headers.get("content-encoding"), limit
    )
    payload = parse_object(body)
    return key or _authorize(request, payload.get("writeKey")), payload


def _ingest(request: Request, translator: SegmentTranslator) -> SegmentIngest:
    rt = runtime(request)
    return SegmentIngest(rt.collector, rt.writer, rt.bus, translator)


def _batch_handler(translator: SegmentTranslator) -> Handler:
    async def post_batch(request: Request, response: Response) -> dict[str, bool]:
        """A batch of Segment messages of any call type (``{"batch": [...]}``)."""
        received = received_now()
        key, payload = await _receive(request, MAX_SEGMENT_BATCH_BYTES)
        messages = batch_messages(payload)
        await _ingest(request, translator).ingest(messages, key.id, received, payload)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return SUCCESS

    return post_batch


def _call_handler(call_type: str, translator: SegmentTranslator) -> Handler:
    async def post_call(request: Request, response: Response) -> dict[str, bool]:
        received = received_now()
        key, payload = await _receive(request, MAX_SEGMENT_EVENT_BYTES)
        await _ingest(request, translator).ingest([payload], key.id, received, None, call_type)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return SUCCESS

    post_call.__name__ = f"post_{call_type}"
    post_call.__doc__ = f"One Segment ``{call_type}`` call."
    return post_call


def build_router(config: SegmentConfig | None = None) -> APIRouter:
    """The compatibility routes, reading payloads as ``config`` says."""
    translator = SegmentTranslator(config)
    router = APIRouter(prefix=PREFIX, tags=["segment"])
    batch = _batch_handler(translator)
    router.add_api_route("/batch", batch, methods=["POST"], name="segment_batch")
    for alias in ("/import", "/b"):
        router.add_api_route(alias, batch, methods=["POST"], include_in_schema=False)
    for call_type in CALL_TYPES:
        handler = _call_handler(call_type, translator)
        router.add_api_route(
            f"/{call_type}", handler, methods=["POST"], name=f"segment_{call_type}"
        )
        router.add_api_route(f"/{call_type[0]}", handler, methods=["POST"], include_in_schema=False)
    return router


router = build_router()
