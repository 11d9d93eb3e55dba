"""Admin endpoints for the decision rules and content blocks (YAML, validated, versioned)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from shopwise.api._auth import authorize
from shopwise.api._documents import put_document, shown
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope

router = APIRouter(prefix="/v1", tags=["decisions"])


@router.get("/rules")
def get_rules(
    request: Request, _key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
) -> dict[str, Any]:
    """The live rule set and the version history."""
    store = runtime(request).rules
    return {**shown(store.live()), "history": store.history()}


@router.put("/rules")
async def put_rules(
    request: Request, key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
) -> dict[str, Any]:
    """Store a new rule set (YAML body); it is validated, versioned and live at once."""
    return await put_document(request, runtime(request).rules, key, "rules.changed")


@router.get("/content")
def get_content(
    request: Request, _key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
) -> dict[str, Any]:
    store = runtime(request).content
    return {**shown(store.live()), "history": store.history()}


@router.put("/content")
async def put_content(
    request: Request, key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
) -> dict[str, Any]:
    """Store new content blocks and layouts (YAML body)."""
    return await put_document(request, runtime(request).content, key, "content.changed")
