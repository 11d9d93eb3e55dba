"""The versioned YAML documents over HTTP (rules, content, triggers): how one is shown, and how
a new version is stored from a request body (validated, versioned, audited)."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request

from shopwise.api._auth import audited
from shopwise.api.events import read_body
from shopwise.auth import ApiKey
from shopwise.decide import Versioned, VersionedStore
from shopwise.errors import InvalidInput

MAX_YAML_BYTES: Final = 256 * 1024
"""The largest YAML document accepted."""


def shown(live: Versioned[Any]) -> dict[str, Any]:
    """A version as the API shows it: its number, its YAML and what it parsed to."""
    return {
        "version": live.version,
        "yaml": live.body,
        "parsed": live.value.model_dump(mode="json"),
    }


async def put_document(
    request: Request, store: VersionedStore[Any], key: ApiKey, action: str
) -> dict[str, Any]:
    """Store the request's YAML body as a new version (400 naming the problem otherwise) and
    audit it as ``action``."""
    body = await read_body(request, MAX_YAML_BYTES)
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise InvalidInput("body must be UTF-8 YAML", code="invalid_yaml") from None
    stored = shown(store.put(text, key.id))
    audited(request, key, action, str(stored["version"]))
    return stored
