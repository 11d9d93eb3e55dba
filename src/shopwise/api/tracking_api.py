"""The Segment-compatible tracking API under ``/segment/v1`` (also spoken by RudderStack's SDKs).

Point an SDK's host at ``https://<shopwise>/segment`` and it posts to ``/segment/v1/batch`` as it
would to ``api.segment.io/v1/batch``. Routes: ``/batch`` (also ``/import``, and analytics.js's
``/b``); one per call type, ``/track``, ``/identify``, ``/page``, ``/screen``, ``/alias``,
``/group`` (also analytics.js's one-letter forms ``/t``, ``/i``, ...); and the source settings
analytics.js loads from its CDN (``GET /projects/{write_key}/settings``), and ``/m``, where
analytics.js would post its own telemetry (received and discarded). Authentication is
Segment's: HTTP Basic with the write key as user name and an empty password, or the ``writeKey``
field of the body (analytics.js); a Bearer key works too. Bodies may be gzip. Limits are Segment's:
32 KB a call, 500 KB a batch. The answer is Segment's ``{"success": true}`` once the accepted events
are committed; events that fail validation are dead-lettered with their reason, as on
``/v1/events``. Errors carry Segment's top-level ``code`` and ``message`` besides shopwise's
``error`` object (see :mod:`shopwise.api._errors`); cross-origin access is
:mod:`shopwise.api._cors`'s.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any, Final

from fastapi import APIRouter, Request, Response

from shopwise.api._auth import grant
from shopwise.api._errors import SEGMENT_ROOT_PATHS
from shopwise.api._json import JsonResponse
from shopwise.api._runtime import runtime
from shopwise.api.events import read_body
from shopwise.auth import ApiKey, KeyKind, Scope
from shopwise.collect.tracking_api import (
    CALL_TYPES,
    MAX_SEGMENT_BATCH_BYTES,
    MAX_SEGMENT_EVENT_BYTES,
    SegmentIngest,
    SegmentTranslator,
    TrackingApiConfig,
    batch_messages,
    decode_body,
    parse_object,
    received_now,
)
from shopwise.errors import AuthError, Forbidden

PREFIX: Final = "/segment/v1"
ROOT_BATCH_PATHS: Final = SEGMENT_ROOT_PATHS
SUCCESS: Final = {"success": True}
NO_TELEMETRY: Final = {"sampleRate": 0}
"""analytics.js's ``metrics`` setting: with a zero sample rate it neither collects nor posts its
own telemetry (otherwise posted to ``api.segment.io/v1/m`` on a timer)."""

Handler = Callable[[Request], Awaitable[JsonResponse]]


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
    return grant(runtime(request), plaintext, Scope.EVENTS_WRITE, request)


async def _receive(request: Request, limit: int) -> tuple[ApiKey, dict[str, Any]]:
    """The request's key and JSON body; a header key is checked before the body is read."""
    from_header = _header_key(request)
    key = _authorize(request, from_header) if from_header is not None else None
    body = decode_body(
        await read_body(request, limit), request.headers.get("content-encoding"), limit
    )
    payload = parse_object(body)
    return key or _authorize(request, _body_key(payload)), payload


def _body_key(payload: dict[str, Any]) -> Any:
    """``writeKey`` of the body, else of its first message (analytics.js puts it in each)."""
    if "writeKey" in payload:
        return payload["writeKey"]
    batch = payload.get("batch")
    if isinstance(batch, list) and batch and isinstance(batch[0], dict):
        return batch[0].get("writeKey")
    return None


def _ingest(request: Request, translator: SegmentTranslator) -> SegmentIngest:
    rt = runtime(request)
    return SegmentIngest(rt.collector, rt.writer, rt.bus, translator)


def _batch_handler(translator: SegmentTranslator) -> Handler:
    async def post_batch(request: Request) -> JsonResponse:
        """A batch of Segment messages of any call type (``{"batch": [...]}``)."""
        received = received_now()
        key, payload = await _receive(request, MAX_SEGMENT_BATCH_BYTES)
        messages = batch_messages(payload)
        ingest = _ingest(request, translator)
        await ingest.ingest(messages, key.id, received, payload, kind=key.kind)
        return JsonResponse(SUCCESS)

    return post_batch


def _call_handler(call_type: str, translator: SegmentTranslator) -> Handler:
    async def post_call(request: Request) -> JsonResponse:
        received = received_now()
        key, payload = await _receive(request, MAX_SEGMENT_EVENT_BYTES)
        await _ingest(request, translator).ingest(
            [payload], key.id, received, None, call_type, key.kind
        )
        return JsonResponse(SUCCESS)

    post_call.__name__ = f"post_{call_type}"
    post_call.__doc__ = f"One Segment ``{call_type}`` call."
    return post_call


def project_settings(request: Request, write_key: str, response: Response) -> dict[str, Any]:
    """Source settings as analytics.js loads them from its CDN, pointing it back at shopwise.

    With ``cdnURL: "https://<shopwise>/segment"`` analytics.js fetches this instead of
    ``cdn.segment.com/v1/projects/<key>/settings`` and then sends its events to ``/segment/v1``.
    ``apiKey`` is the key the page asked with: analytics.js's Segment.io plugin takes the write
    key of every event (and of its ``Authorization`` header) from there and from nowhere else.
    The answer varies with the key, so no shared cache may keep it. Only a write key (public by
    design: it is in every page) is answered; a secret or admin key in this URL is refused
    (403) and never echoed.
    """
    if _authorize(request, write_key).kind is not KeyKind.WRITE:
        raise Forbidden(
            "write_key: only a write key belongs in a page; a secret or admin key is refused here"
        )
    response.headers["Cache-Control"] = "private, no-store"
    scheme, host = _public_origin(request)
    api_host = f"{host}{PREFIX}"
    return {
        "integrations": {
            "Segment.io": {"apiKey": write_key, "apiHost": api_host, "protocol": scheme}
        },
        "plan": {"track": {"__default": {"enabled": True}}},
        "metrics": {**NO_TELEMETRY, "host": api_host},
    }


def _public_origin(request: Request) -> tuple[str, str]:
    """The scheme and host the client reached us by: ``X-Forwarded-Proto``/``-Host`` when a
    trusted proxy (``SHOPWISE_TRUSTED_PROXIES``) sent them, else the request's own."""
    scheme = request.url.scheme
    host = request.headers.get("host") or request.url.netloc
    peer = request.client.host if request.client else None
    if peer is not None and _trusted(peer, runtime(request).settings.trusted_proxies):
        scheme = _first(request.headers.get("x-forwarded-proto")) or scheme
        host = _first(request.headers.get("x-forwarded-host")) or host
    return scheme, host


def _first(header: str | None) -> str | None:
    """The first value of a forwarded header (the proxy nearest the client wrote it)."""
    return header.split(",", 1)[0].strip() or None if header else None


def _trusted(peer: str, proxies: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in _networks(proxies))


@functools.cache
def _networks(
    proxies: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def discard_telemetry() -> Response:
    """analytics.js's own telemetry: not kept (the settings turn it off; older pages may post)."""
    return Response(status_code=204)


def build_router(config: TrackingApiConfig | None = None) -> APIRouter:
    """The compatibility routes, reading payloads as ``config`` says."""
    translator = SegmentTranslator(config)
    router = APIRouter(prefix=PREFIX, tags=["segment"])
    # Ingestion routes are plain Starlette routes, like POST /v1/events: no dependency resolution
    # or response-model serialisation on the hot path (they are not in the OpenAPI schema).
    batch = _batch_handler(translator)
    for path in ("/batch", "/import", "/b"):
        router.add_route(PREFIX + path, batch, methods=["POST"])
    # Segment's own batch paths at the root too (nothing of ours is there), so SDKs that only
    # post batches (analytics-node, the Python SDKs) switch by their host setting alone
    for path in ROOT_BATCH_PATHS:
        router.add_route(path, batch, methods=["POST"])
    for call_type in CALL_TYPES:
        handler = _call_handler(call_type, translator)
        for path in (f"/{call_type}", f"/{call_type[0]}"):
            router.add_route(PREFIX + path, handler, methods=["POST"])
    router.add_api_route("/projects/{write_key}/settings", project_settings, methods=["GET"])
    router.add_api_route("/m", discard_telemetry, methods=["POST"], include_in_schema=False)
    return router


router = build_router()
