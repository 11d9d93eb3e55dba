"""The dashboard's operator session: an admin key proven once, then a signed cookie.

The login form posts the admin API key; :func:`shopwise.api._auth.grant` checks it as every admin
route does (same rate limits on refused keys). The cookie then holds only the key's *id* and an
expiry, signed with HMAC-SHA256 under a key derived from ``settings.secret_key`` (never the API
key itself, which the browser forgets after the login). Each page checks the signature, the expiry
and that the key is still active, so revoking the key ends its dashboard sessions at once. The
cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page can make
the browser send it, which is what keeps the dashboard's forms safe from cross-site posts) and
``Secure`` when the request came over HTTPS; a post whose ``Origin`` names another site is refused
on top of that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Annotated, Final
from urllib.parse import urlsplit

import orjson
from fastapi import Depends, Request

from shopwise.api._auth import grant
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.errors import AuthError, Forbidden

COOKIE: Final = "shopwise_dashboard"
"""The session cookie's name."""
PATH: Final = "/dashboard"
"""The cookie is sent to the dashboard's pages only, never to the API."""
MAX_AGE_SECONDS: Final = 8 * 60 * 60
"""How long a login lasts: a working day."""
_PURPOSE: Final = b"shopwise dashboard session v1"
"""Derives the signing key, so a signature made for another use of the secret never passes."""


class NeedsLogin(AuthError):
    """No valid session: the page answers with a redirect to the login form."""

    code = "needs_login"


def _signing_key(request: Request) -> bytes:
    secret = runtime(request).settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, _PURPOSE, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def session_token(request: Request, key: ApiKey, now: float | None = None) -> str:
    """A signed token naming ``key`` (its id) that expires :data:`MAX_AGE_SECONDS` from now."""
    expires = int((time.time() if now is None else now) + MAX_AGE_SECONDS)
    body = _b64(orjson.dumps({"key": key.id, "exp": expires}))
    signature = hmac.new(_signing_key(request), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def token_key_id(request: Request, token: str, now: float | None = None) -> str | None:
    """The key id a token names when its signature holds and it has not expired, else ``None``."""
    body, _, signature = token.partition(".")
    expected = hmac.new(_signing_key(request), body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(signature), expected):
            return None
        claims = orjson.loads(_unb64(body))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("key"), str):
        return None
    expires = claims.get("exp")
    if not isinstance(expires, int) or expires <= (time.time() if now is None else now):
        return None
    key_id: str = claims["key"]
    return key_id


def login(request: Request, plaintext: str) -> ApiKey:
    """The admin key behind ``plaintext`` (:class:`AuthError` or :class:`Forbidden` otherwise),
    recorded in the audit log as a dashboard login."""
    rt = runtime(request)
    key = grant(rt, plaintext.strip(), Scope.ADMIN, request)
    rt.audit.record(f"key:{key.id}", "dashboard.login")
    return key


def operator(request: Request) -> ApiKey:
    """A dependency: the active admin key of the request's session (:class:`NeedsLogin` when
    there is none, the token is forged or expired, or the key was revoked since)."""
    token = request.cookies.get(COOKIE)
    key_id = None if token is None else token_key_id(request, token)
    if key_id is None:
        raise NeedsLogin("log in with an admin API key")
    active = {key.id: key for key in runtime(request).keys.list()}
    key = active.get(key_id)
    if key is None or Scope.ADMIN not in key.scopes:
        raise NeedsLogin("the session's key is no longer active; log in again")
    return key


def same_origin(request: Request) -> None:
    """A dependency for the dashboard's posts: refuse one whose ``Origin`` is another site's."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    # the host alone is compared: behind a proxy that ends TLS, the server sees http while the
    # browser's origin says https
    own = request.url.netloc
    if urlsplit(origin).netloc != own:
        raise Forbidden(f"origin: a dashboard form may be posted only from {own}")


Operator = Annotated[ApiKey, Depends(operator)]
"""A page's operator: the admin key of the session (the login form otherwise)."""
