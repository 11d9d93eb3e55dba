"""Admin endpoints of the journeys: the trigger definitions (YAML, validated, versioned) and the
preview of a message a trigger fired."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from shopwise.api._auth import audited, authorize
from shopwise.api._documents import put_document, shown
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.decide import VersionedStore
from shopwise.errors import NotFound
from shopwise.journeys import Templates, TriggerSet, render_stored, stored_message, trigger_store

router = APIRouter(prefix="/v1", tags=["journeys"])


def triggers_of(request: Request) -> VersionedStore[TriggerSet]:
    """The application's trigger store (made on first use; one per process, so a ``PUT`` is live
    at once here and within a second in every other process)."""
    state = request.app.state
    store: VersionedStore[TriggerSet] | None = getattr(state, "triggers", None)
    if store is None:
        store = state.triggers = trigger_store(runtime(request).engine)
    return store


@router.get("/triggers")
def get_triggers(
    request: Request, _key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
) -> dict[str, Any]:
    """The live trigger set and the version history."""
    store = triggers_of(request)
    return {**shown(store.live()), "history": store.history()}


@router.put("/triggers")
async def put_triggers(
    request: Request, key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
) -> dict[str, Any]:
    """Store a new trigger set (YAML body); it is validated, versioned and live at once."""
    return await put_document(request, triggers_of(request), key, "triggers.changed")


@router.get("/messages/{message_id}/preview")
def preview_message(
    request: Request, message_id: str, key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
) -> dict[str, Any]:
    """A message a trigger fired, rendered again (subject, text, HTML) with today's templates."""
    rt = runtime(request)
    row = stored_message(rt.engine, message_id)
    rendered = None
    if row is not None:
        templates = Templates.of_data_dir(rt.settings.data_dir)
        rendered = render_stored(row, triggers_of(request), templates, rt.cipher)
    if rendered is None:
        message = f"message_id: no message {message_id!r} fired by a trigger"
        detail = {"field": "message_id", "message": message}
        raise NotFound(message, code="unknown_message", details=[detail])
    audited(request, key, "message.previewed", str(rendered["profile_id"]), {"id": message_id})
    return rendered
