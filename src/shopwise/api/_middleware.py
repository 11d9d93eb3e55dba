"""Request ids, one JSON access-log line per request, each request told to the app's metrics,
and the answer to unexpected exceptions, as a plain ASGI middleware (cheap), the outermost of ours.

An exception that escapes the application stops here: it is logged with the request id and
answered with the JSON 500, and never re-raised. Re-raised (as Starlette's
``ServerErrorMiddleware`` does after its own answer), it reaches the server, which may then reset
the client's keep-alive connection under the next request. The access log names the route
template, never the path, so neither a shopper's id nor a write key (the settings route carries
one in its path) reaches a log line or a metric's label.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopwise.api._errors import internal_error
from shopwise.logs import request_id

log = logging.getLogger("shopwise.access")
errors_log = logging.getLogger("shopwise.api")

Observer = Callable[[str, str, int, float], None]
"""Told of every answered request: method, route template, status and seconds taken (the
app's metrics, :meth:`shopwise.api._metrics.ApiMetrics.request`)."""


class RequestContext:
    """Sets ``X-Request-ID`` (kept from the client when given) and logs the request.

    New ids are 32 hex digits, like ``uuid4().hex``, drawn from a generator seeded once from the OS:
    a request id needs to be unique, not unpredictable, and reading ``os.urandom`` on every request
    costs a system call (and a GIL hand-off to the event writer) on the hottest path.
    """

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self._ids = random.Random(os.urandom(32))
        self._observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or f"{self._ids.getrandbits(128):032x}"
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        started_answer = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_answer
            if message["type"] == "http.response.start":
                status = message["status"]
                started_answer = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # the declared boundary: answered here, never re-raised
            errors_log.error("unhandled error", exc_info=exc)
            if not started_answer:
                await internal_error(scope["path"])(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            if self._observe is not None:
                self._observe(scope["method"], _route(scope), status, seconds)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": _route(scope),
                        "status": status,
                        "ms": round(seconds * 1000, 2),
                    },
                )
            request_id.reset(token)


def _route(scope: Scope) -> str:
    """The matched route's template (``/v1/privacy/export/{any_id}``), never the path itself:
    a path may carry a shopper's id or email, and logs must hold no personal data.

    FastAPI names only its own routes in the scope (``route``). A plain Starlette route it
    matched (the ingestion, recommendation and Segment-compatible routes) leaves just its
    ``endpoint`` there; having no path parameters, its path is its template.
    """
    template = getattr(scope.get("route"), "path", None)
    if isinstance(template, str):
        return template
    if "endpoint" in scope and not scope.get("path_params"):
        return str(scope["path"])
    return "(no route)"


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")[:64]
            return text if text.isprintable() else None
    return None
