"""Cross-origin access to the public routes, as one plain ASGI middleware.

A storefront's pages call shopwise from their own origin: events and identities go in,
recommendations and decisions come out. The browser lets them only when shopwise says so (CORS):
it asks first with an ``OPTIONS`` preflight, then reads an answer only if it names the page's
origin. Only the routes a page may call with a public key are opened (:func:`is_public`); every
answer on them carries the headers, error answers included, so a page can tell a refused key
from a network failure and read ``Retry-After``.

Which origins: ``SHOPWISE_CORS_ORIGINS`` (comma-separated, ``*`` for any). Left empty, no origin
may call the native routes, while the Segment routes answer any origin, as Segment's own
tracking API does: analytics.js posts there from the shop's pages with the write key that the
page itself carries. Setting the list restricts the Segment routes to it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopwise.api._errors import error_response, speaks_segment

ANY_ORIGIN: Final = "*"
ALLOWED_METHODS: Final = "GET, POST, OPTIONS"
ALLOWED_HEADERS: Final = (
    "Authorization, Content-Type, Content-Encoding, X-Retry-Count, AnonymousId, X-Request-ID"
)
"""What the browser SDKs send: analytics.js adds ``X-Retry-Count`` to every retry."""
EXPOSED_HEADERS: Final = "Retry-After, X-Request-ID"
MAX_AGE_SECONDS: Final = "86400"
"""How long a browser may reuse a preflight answer (a day)."""

_PUBLIC_PATHS: Final = frozenset(
    {
        "/v1/events",
        "/v1/identify",
        "/v1/alias",
        "/v1/recommendations",
        "/v1/decide",
        "/sdk/products",
    }
)
_PRODUCT_LISTS: Final = re.compile(r"/v1/products/[^/]+/(similar|complementary)")


def is_public(path: str) -> bool:
    """Whether a storefront page may call ``path`` across origins."""
    return path in _PUBLIC_PATHS or speaks_segment(path) or bool(_PRODUCT_LISTS.fullmatch(path))


class CorsPolicy:
    """Which origins may call which routes (see the module docstring)."""

    def __init__(self, origins: Iterable[str]) -> None:
        listed = frozenset(origin.rstrip("/") for origin in origins)
        self._any = ANY_ORIGIN in listed
        self._origins = listed - {ANY_ORIGIN}
        self._segment_any = not listed

    def allow_origin(self, path: str, origin: str) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for ``origin`` on ``path``, if allowed."""
        if not is_public(path):
            return None
        if self._any or (self._segment_any and speaks_segment(path)):
            return ANY_ORIGIN
        return origin if origin in self._origins else None


class Cors:
    """Answers preflights of the public routes and adds CORS headers to their answers."""

    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.policy = CorsPolicy(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or not is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        allowed = self.policy.allow_origin(scope["path"], origin)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await _preflight(allowed, origin)(scope, receive, send)
            return
        if allowed is None:
            await self.app(scope, receive, send)
            return
        extra = _cors_headers(allowed)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _cors_headers(allowed: str) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"access-control-allow-origin", allowed.encode("latin-1")),
        (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
    ]
    if allowed != ANY_ORIGIN:
        headers.append((b"vary", b"Origin"))
    return headers


def _preflight(allowed: str | None, origin: str) -> Response:
    """The answer to a preflight: 204 with what may be sent, or 403 for an unlisted origin."""
    if allowed is None:
        return error_response(
            403,
            "cors_origin_refused",
            f"origin {origin!r} is not in SHOPWISE_CORS_ORIGINS",
        )
    response = Response(status_code=204)
    response.raw_headers.extend(_cors_headers(allowed))
    response.raw_headers.extend(
        [
            (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
            (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
            (b"access-control-max-age", MAX_AGE_SECONDS.encode()),
        ]
    )
    return response
