"""Request ids and one JSON access-log line per request, as a plain ASGI middleware (cheap)."""

from __future__ import annotations

import logging
import os
import random
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopwise.logs import request_id

log = logging.getLogger("shopwise.access")


class RequestContext:
    """Sets ``X-Request-ID`` (kept from the client when given) and logs the request.

    New ids are 32 hex digits, like ``uuid4().hex``, drawn from a generator seeded once from the OS:
    a request id needs to be unique, not unpredictable, and reading ``os.urandom`` on every request
    costs a system call (and a GIL hand-off to the event writer) on the hottest path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._ids = random.Random(os.urandom(32))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or f"{self._ids.getrandbits(128):032x}"
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": _route(scope),
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id.reset(token)


def _route(scope: Scope) -> str:
    """The matched route's template (``/v1/privacy/export/{any_id}``), never the path itself:
    a path may carry a shopper's id or email, and logs must hold no personal data."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    return template if isinstance(template, str) else "(no route)"


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")[:64]
            return text if text.isprintable() else None
    return None
