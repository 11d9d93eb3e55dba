"""Admin endpoints for the decision rules and content blocks (YAML, validated, versioned)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from shopwise.api._auth import audited, authorize
from shopwise.api._runtime import runtime
from shopwise.api.events import read_body
from shopwise.auth import ApiKey, Scope
from shopwise.decide import Versioned, VersionedStore
from shopwise.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["decisions"])

MAX_YAML_BYTES = 256 * 1024


def _public(live: Versioned[Any]) -> dict[str, Any]:
    return {
        "version": live.version,
        "yaml": live.body,
        "parsed": live.value.model_dump(mode="json"),
    }


async def _put(
    request: Request, store: VersionedStore[Any], key: ApiKey, action: str
) -> dict[str, Any]:
    body = await read_body(request, MAX_YAML_BYTES)
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise InvalidInput("body must be UTF-8 YAML", code="invalid_yaml") from None
    stored = _public(store.put(text, key.id))
    audited(request, key, action, str(stored["version"]))
    return stored


@router.get("/rules")
def get_rules(
    request: Request, _key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
) -> dict[str, Any]:
    """The live rule set and the version history."""
    store = runtime(request).rules
    return {**_public(store.live()), "history": store.history()}


@router.put("/rules")
async def put_rules(
    request: Request, key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
) -> dict[str, Any]:
    """Store a new rule set (YAML body); it is validated, versioned and live at once."""
    return await _put(request, runtime(request).rules, key, "rules.changed")


@router.get("/content")
def get_content(
    request: Request, _key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
) -> dict[str, Any]:
    store = runtime(request).content
    return {**_public(store.live()), "history": store.history()}


@router.put("/content")
async def put_content(
    request: Request, key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
) -> dict[str, Any]:
    """Store new content blocks and layouts (YAML body)."""
    return await _put(request, runtime(request).content, key, "content.changed")
