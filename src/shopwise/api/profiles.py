"""Identity calls and profile reads: ``/v1/identify``, ``/v1/alias``, ``/v1/profiles/{id}``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shopwise.api._auth import authorize
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.collect import IngestResult
from shopwise.errors import InvalidInput, NotFound
from shopwise.runtime import Runtime
from shopwise.schema import Context, EventType, Id, check_trait

router = APIRouter(prefix="/v1", tags=["profiles"])

STITCH_TIMEOUT_SECONDS = 2.0


class IdentifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Id
    anonymous_id: Id | None = None
    traits: dict[str, Any] = Field(default_factory=dict)
    message_id: Id | None = None
    timestamp: AwareDatetime | None = None
    context: Context | None = None


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    previous_id: Id
    user_id: Id
    message_id: Id | None = None
    timestamp: AwareDatetime | None = None


class TraitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    traits: dict[str, Any]


def _checked(traits: dict[str, Any]) -> dict[str, Any]:
    return {name: check_trait(name, value) for name, value in traits.items()}


def _event(
    event_type: str, message_id: str | None, when: datetime | None, **fields: Any
) -> dict[str, Any]:
    event = {
        "message_id": message_id or uuid.uuid4().hex,
        "type": event_type,
        "timestamp": (when or datetime.now(UTC)).isoformat(),
    }
    event.update({k: v for k, v in fields.items() if v is not None})
    return event


async def ingest_and_stitch(rt: Runtime, event: dict[str, Any], key_id: str) -> IngestResult:
    """Ingest one identity event and wait until profiles reflect it (real-time stitching)."""
    result = await rt.collector.ingest_async([event], key_id)
    if result.rejected:
        rejection = result.rejected[0]
        raise InvalidInput(rejection.message, code=rejection.code)
    if result.last_event_id:
        await asyncio.to_thread(
            rt.bus.wait_until_consumed, result.last_event_id, STITCH_TIMEOUT_SECONDS
        )
    return result


@router.post("/identify")
async def identify(
    request: Request,
    body: IdentifyIn,
    key: Annotated[ApiKey, Depends(authorize(Scope.EVENTS_WRITE))],
) -> dict[str, Any]:
    """Link an anonymous id to a user id and set traits; the profile is stitched on return."""
    context = body.context.model_dump(mode="json", exclude_none=True) if body.context else None
    event = _event(
        EventType.IDENTIFY,
        body.message_id,
        body.timestamp,
        user_id=body.user_id,
        anonymous_id=body.anonymous_id,
        context=context,
        properties={"traits": _checked(body.traits), "source": "identify"},
    )
    rt = runtime(request)
    result = await ingest_and_stitch(rt, event, key.id)
    return {**result.public(), "profile_id": rt.profiles.canonical(body.user_id)}


@router.post("/alias")
async def alias(
    request: Request, body: AliasIn, key: Annotated[ApiKey, Depends(authorize(Scope.EVENTS_WRITE))]
) -> dict[str, Any]:
    """Declare that ``previous_id`` (an anonymous id) and ``user_id`` are the same person."""
    event = _event(
        EventType.ALIAS,
        body.message_id,
        body.timestamp,
        user_id=body.user_id,
        properties={"previous_id": body.previous_id},
    )
    rt = runtime(request)
    result = await ingest_and_stitch(rt, event, key.id)
    return {**result.public(), "profile_id": rt.profiles.canonical(body.user_id)}


def _view(rt: Runtime, profile_id: str) -> dict[str, Any]:
    view = rt.profiles.get(profile_id)
    if view is None:
        raise NotFound(f"no profile for id {profile_id!r}")
    return view.public()


@router.get("/profiles/{profile_id}")
def get_profile(
    request: Request, profile_id: str, _key: Annotated[ApiKey, Depends(authorize(Scope.READ))]
) -> dict[str, Any]:
    """The unified profile, by any linked id (user id, anonymous id or profile id)."""
    return _view(runtime(request), profile_id)


@router.get("/profiles/{profile_id}/events")
def get_profile_events(
    request: Request,
    profile_id: str,
    _key: Annotated[ApiKey, Depends(authorize(Scope.READ))],
    after: int = Query(0, ge=0, description="Return events with an id above this cursor."),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """The profile's events, oldest first, paged by event id."""
    found = runtime(request).profiles.events_of(profile_id, after, limit)
    if found is None:
        raise NotFound(f"no profile for id {profile_id!r}")
    canonical, rows = found
    return {
        "profile_id": canonical,
        "events": [
            {
                **{name: getattr(e, name) for name in e.__slots__},
                "timestamp": datetime.fromtimestamp(e.timestamp / 1000, UTC).isoformat(),
            }
            for e in rows
        ],
        "next_cursor": rows[-1].id if len(rows) == limit else None,
    }


@router.patch("/profiles/{profile_id}/traits")
async def patch_traits(
    request: Request,
    profile_id: str,
    body: TraitsIn,
    key: Annotated[ApiKey, Depends(authorize(Scope.WRITE))],
) -> dict[str, Any]:
    """Set traits (typed; PII flagged) on a profile; recorded as an identify event from the API."""
    rt = runtime(request)
    identity = rt.profiles.identity_of(profile_id)
    if identity is None:
        raise NotFound(f"no profile for id {profile_id!r}")
    user_id, anonymous_id = identity
    event = _event(
        EventType.IDENTIFY,
        None,
        None,
        user_id=user_id,
        anonymous_id=anonymous_id,
        properties={"traits": _checked(body.traits), "source": "api"},
    )
    await ingest_and_stitch(rt, event, key.id)
    return _view(rt, profile_id)
