"""Bearer-key authentication as FastAPI dependencies: ``Depends(authorize(Scope.READ))``."""

from __future__ import annotations

import functools
from collections.abc import Callable

from fastapi import Request
from starlette.types import Scope as AsgiScope

from shopwise.auth import ApiKey, Scope
from shopwise.errors import AuthError
from shopwise.runtime import Runtime


def runtime(request: Request) -> Runtime:
    """The services behind the request's app (:func:`shopwise.api.create_app` sets them).

    Read as a plain attribute of the app: ``app.state.runtime`` (kept for tests and extensions)
    is found by Starlette's ``State`` only after an ordinary lookup fails: an ``AttributeError``
    raised and caught on every request.
    """
    rt: Runtime = request.scope["app"].runtime
    return rt


def bearer_token(asgi: AsgiScope) -> str:
    """The key of the request's ``Authorization: Bearer`` header (401 when missing or malformed).

    Read from the ASGI scope's header list (names are lower case there), which costs less than
    building Starlette's header mapping on the hottest routes.
    """
    for name, value in asgi["headers"]:
        if name == b"authorization":
            if value:
                return _token(value)
            break
    raise AuthError("missing Authorization header (expected 'Bearer <key>')")


@functools.lru_cache(maxsize=1024)
def _token(header: bytes) -> str:
    """The key of an ``Authorization`` header's value, remembered: a shop's pages send a few
    keys (its write key, a server's secret key) again and again. Refusals are not remembered."""
    scheme, _, token = header.decode("latin-1").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization header must be 'Bearer <key>'")
    return token


def grant(rt: Runtime, plaintext: str, scope: Scope) -> ApiKey:
    """The verified key behind ``plaintext`` (401) if it grants ``scope`` (403) at its rate
    (429)."""
    key = rt.keys.verify(plaintext)
    key.require(scope)
    rt.limiter.take(key.id)
    return key


def authorize(scope: Scope) -> Callable[[Request], ApiKey]:
    """A dependency yielding the request's bearer key if it grants ``scope`` (see :func:`grant`)."""

    def dependency(request: Request) -> ApiKey:
        return grant(runtime(request), bearer_token(request.scope), scope)

    return dependency
