"""``POST /v1/events``: batches of events into the collector.

The ingestion route is the hottest path of the API, so it is a plain Starlette route on the event
loop: no dependency resolution, no thread-pool hop for the key check (a cached lookup that reads the
database only when a key's cache entry expires) and no response-model serialisation, which
``benchmarks/ingest.py`` measured against the equivalent FastAPI route (``docs/performance.md``).
Errors still go through the app's exception handlers. Being a Starlette route, it is not listed in
the generated OpenAPI schema; the admin routes below are.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.routing import Route

from shopwise.api._auth import audited, authorize, grant
from shopwise.api._json import JsonResponse
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.collect import MAX_BATCH_BYTES, parse_batch
from shopwise.errors import AuthError, PayloadTooLarge

router = APIRouter(prefix="/v1", tags=["events"])


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 before reading when it announces more than ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes; limit {limit}")
    return await request.body()


_events_writer = authorize(Scope.EVENTS_WRITE)

BODY_KEY: Final = "write_key"
"""The body field that carries the key of a request without an ``Authorization`` header:
``navigator.sendBeacon``, which the JS SDK uses as a page is hidden, cannot set headers."""


def _body_keyed(request: Request, body: bytes) -> tuple[ApiKey, list[Any]]:
    """The key and batch of a body ``{"batch": [...], "write_key": "..."}``; the key is checked
    before the batch is."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    plaintext = payload.pop(BODY_KEY, None) if isinstance(payload, dict) else None
    if not isinstance(plaintext, str) or not plaintext:
        raise AuthError(
            f"missing Authorization header (expected 'Bearer <key>') or {BODY_KEY!r} in the body"
        )
    key = grant(runtime(request), plaintext, Scope.EVENTS_WRITE, request)
    return key, parse_batch(orjson.dumps(payload))


async def post_events(request: Request) -> JsonResponse:
    """Store a batch of events; the answer comes after the accepted ones are committed.

    Needs a key with ``events:write``, as a Bearer header or, for a beacon, in the body's
    ``write_key`` field. Response: ``{"accepted": n, "duplicates": d, "rejected":
    [{"index", "code", "message"}]}``.
    """
    if request.headers.get("authorization") is None:
        key, batch = _body_keyed(request, await read_body(request, MAX_BATCH_BYTES))
    else:
        key = _events_writer(request)
        batch = parse_batch(await read_body(request, MAX_BATCH_BYTES))
    result = await runtime(request).collector.ingest_async(batch, key.id, key.kind)
    return JsonResponse(result.public())


plain_routes = [Route("/v1/events", post_events, methods=["POST"])]
"""Starlette routes the app matches before its routers (see :func:`shopwise.api.create_app`)."""


@router.get("/dead-letters")
def list_dead_letters(
    request: Request,
    key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))],
    include_replayed: bool = False,
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """Rejected events with their reasons (admin key)."""
    letters = runtime(request).dead_letters.list(include_replayed=include_replayed, limit=limit)
    audited(request, key, "dead_letters.read", None, {"rows": len(letters)})
    return {"dead_letters": [asdict(letter) for letter in letters]}


@router.post("/dead-letters/replay")
def replay_dead_letters(
    request: Request, key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
) -> dict[str, int]:
    """Re-validate pending dead letters and ingest the ones that now pass (admin key)."""
    replayed = asdict(runtime(request).dead_letters.replay())
    audited(request, key, "dead_letters.replayed", None, replayed)
    return replayed
