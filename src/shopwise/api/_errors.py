"""The one place where failures become HTTP responses, all in one error format.

``{"error": {"code": "...", "message": "...", "details": [...], "request_id": "..."}}``

The Segment-compatible routes (:func:`speaks_segment`) add Segment's own top-level ``success``,
``code`` and ``message``: rudder-sdk-python reads ``code`` and ``message`` of any error answer
and fails with a ``KeyError`` (which it then retries, even a 401) when they are missing.
Unexpected exceptions are answered by :class:`shopwise.api._middleware.RequestContext`, not
here: a Starlette handler for ``Exception`` answers and then re-raises to the server, which may
reset the keep-alive connection.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shopwise.api._json import JsonResponse
from shopwise.errors import RateLimited, ShopwiseError
from shopwise.logs import request_id

SEGMENT_PREFIX: Final = "/segment/"
"""Paths under it speak Segment's tracking API (``shopwise.api.tracking_api``)."""
SEGMENT_ROOT_PATHS: Final = ("/v1/batch", "/v1/import")
"""Segment's batch paths at the root, where server SDKs post when only their host is changed."""

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def speaks_segment(path: str) -> bool:
    """Whether ``path`` is one of the Segment-compatible routes (their SDKs parse the errors)."""
    return path.startswith(SEGMENT_PREFIX) or path in SEGMENT_ROOT_PATHS


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    *,
    path: str = "",
) -> JsonResponse:
    """The error answer; on a Segment-compatible ``path`` also in the shape Segment's SDKs read."""
    error: dict[str, Any] = {"code": code, "message": message, "details": details or []}
    rid = request_id.get()
    if rid is not None:
        error["request_id"] = rid
    body: dict[str, Any] = {"error": error}
    if speaks_segment(path):
        body = {"success": False, "code": code, "message": message, **body}
    return JsonResponse(body, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


async def _shopwise_error(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, ShopwiseError)
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, round(exc.retry_after + 0.5)))}
    return error_response(
        exc.status, exc.error_code, exc.message, exc.details, headers, path=request.url.path
    )


async def _validation_error(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"field": _field(err["loc"]), "code": err["type"], "message": err["msg"]}
        for err in exc.errors()
    ]
    first = details[0] if details else {"field": "request", "message": "invalid"}
    message = f"{first['field']}: {first['message']}"
    return error_response(400, "invalid_request", message, details, path=request.url.path)


async def _http_error(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(
        exc.status_code, code, str(exc.detail), headers=headers, path=request.url.path
    )


def internal_error(path: str) -> JsonResponse:
    """The answer to an unexpected exception (logged by the caller, with the request id)."""
    return error_response(500, "internal_error", "internal error; see the server log", path=path)


STORE_RETRY_SECONDS: Final = 1
"""``Retry-After`` of the 503 answered while the store cannot be reached."""


async def _store_unreachable(request: Request, exc: Exception) -> JsonResponse:
    """A lost or refused database connection (a PostgreSQL restart): 503 at once, so clients
    retry; the engine's pre-ping replaces the dead pooled connections on the next request."""
    return error_response(
        503,
        "store_unreachable",
        f"store unreachable ({exc.__class__.__name__}); retry shortly",
        headers={"Retry-After": str(STORE_RETRY_SECONDS)},
        path=request.url.path,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(sa.exc.OperationalError, _store_unreachable)
    app.add_exception_handler(sa.exc.InterfaceError, _store_unreachable)
    app.add_exception_handler(ShopwiseError, _shopwise_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
