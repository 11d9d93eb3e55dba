"""Identity calls, profile reads and consent: ``/v1/identify``, ``/v1/alias``,
``/v1/profiles/{id}`` (``/events``, ``/traits``, ``/consent``)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shopwise.api._auth import audited, authorize
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.collect import IngestResult
from shopwise.errors import InvalidInput, NotFound
from shopwise.runtime import Runtime
from shopwise.schema import DO_NOT_SELL, Context, EventType, Id, Purpose, check_trait

router = APIRouter(prefix="/v1", tags=["profiles"])

STITCH_TIMEOUT_SECONDS = 2.0
UserHash = Annotated[str, Field(max_length=128)]


class IdentifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Id
    user_hash: UserHash | None = None
    """Proves ``user_id`` to a write key (see README, Identity verification)."""
    anonymous_id: Id | None = None
    traits: dict[str, Any] = Field(default_factory=dict)
    message_id: Id | None = None
    timestamp: AwareDatetime | None = None
    context: Context | None = None


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    previous_id: Id
    user_id: Id
    user_hash: UserHash | None = None
    """Proves ``user_id`` to a write key (see README, Identity verification)."""
    message_id: Id | None = None
    timestamp: AwareDatetime | None = None


class TraitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    traits: dict[str, Any]


class ConsentIn(BaseModel):
    """A person's consent choices, as a banner or account page records them."""

    model_config = ConfigDict(extra="forbid")

    purposes: dict[Purpose, bool] = Field(default_factory=dict)
    """Choices per purpose; purposes left out keep their current choice."""
    do_not_sell: bool | None = None
    """The CCPA opt-out of sale (``true`` opts out)."""
    policy_version: Annotated[str, Field(max_length=64)] | None = None
    """The version of the privacy policy the person was shown."""
    source: Annotated[str, Field(min_length=1, max_length=64)] = "api"
    """Where the choice was made (``banner``, ``account``, ...)."""

    @field_validator("purposes")
    @classmethod
    def _necessary_is_not_a_choice(cls, purposes: dict[Purpose, bool]) -> dict[Purpose, bool]:
        if purposes.get(Purpose.NECESSARY) is False:
            raise ValueError("necessary processing cannot be refused")
        return purposes


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


async def ingest_and_stitch(rt: Runtime, event: dict[str, Any], key: ApiKey) -> IngestResult:
    """Ingest one identity event and wait until profiles reflect it (real-time stitching)."""
    result = await rt.collector.ingest_async([event], key.id, key.kind)
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
    """Link an anonymous id to a user id and set traits; the profile is stitched on return.

    From a write key the user id is claimed unless ``user_hash`` proves it: a claimed identify
    stitches (for analytics) but overwrites no trait a verified source set.
    """
    context = body.context.model_dump(mode="json", exclude_none=True) if body.context else None
    event = _event(
        EventType.IDENTIFY,
        body.message_id,
        body.timestamp,
        user_id=body.user_id,
        user_hash=body.user_hash,
        anonymous_id=body.anonymous_id,
        context=context,
        properties={"traits": _checked(body.traits), "source": "identify"},
    )
    rt = runtime(request)
    result = await ingest_and_stitch(rt, event, key)
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
        user_hash=body.user_hash,
        properties={"previous_id": body.previous_id},
    )
    rt = runtime(request)
    result = await ingest_and_stitch(rt, event, key)
    return {**result.public(), "profile_id": rt.profiles.canonical(body.user_id)}


def _view(rt: Runtime, profile_id: str) -> dict[str, Any]:
    """The profile as the API shows it, its sealed PII traits opened."""
    view = rt.profiles.get(profile_id)
    if view is None:
        raise NotFound(f"no profile for id {profile_id!r}")
    shown: dict[str, Any] = rt.cipher.open_json(view.public())
    return shown


@router.get("/profiles/{profile_id}")
def get_profile(
    request: Request, profile_id: str, key: Annotated[ApiKey, Depends(authorize(Scope.READ))]
) -> dict[str, Any]:
    """The unified profile, by any linked id (user id, anonymous id or profile id)."""
    view = _view(runtime(request), profile_id)
    audited(request, key, "profile.read", view["profile_id"])
    return view


@router.get("/profiles/{profile_id}/events")
def get_profile_events(
    request: Request,
    profile_id: str,
    key: Annotated[ApiKey, Depends(authorize(Scope.READ))],
    after: int = Query(0, ge=0, description="Return events with an id above this cursor."),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """The profile's events, oldest first, paged by event id."""
    rt = runtime(request)
    found = rt.profiles.events_of(profile_id, after, limit)
    if found is None:
        raise NotFound(f"no profile for id {profile_id!r}")
    canonical, rows = found
    audited(request, key, "profile.events_read", canonical, {"events": len(rows)})
    return {
        "profile_id": canonical,
        "events": [
            {
                **{name: getattr(e, name) for name in e.__slots__},
                "properties": rt.cipher.open_json(e.properties),
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
    await ingest_and_stitch(rt, event, key)
    view = _view(rt, profile_id)
    audited(
        request, key, "profile.traits_changed", view["profile_id"], {"traits": sorted(body.traits)}
    )
    return view


def _consent(rt: Runtime, profile_id: str) -> dict[str, Any]:
    """The profile's effective consent per purpose (stated, or its mode's default) and history."""
    view = rt.profiles.get(profile_id)
    found = rt.profiles.consent_history(profile_id)
    if view is None or found is None:
        raise NotFound(f"no profile for id {profile_id!r}")
    choices = view.state.consent
    effective = {
        purpose.value: {
            "granted": rt.consent.allows(choices, purpose),
            "stated": purpose in choices,
            "mode": rt.consent.modes.get(purpose, "always"),
        }
        for purpose in Purpose
    }
    sold = choices.get(DO_NOT_SELL)
    return {
        "profile_id": view.profile_id,
        "purposes": effective,
        "do_not_sell": bool(sold[0]) if sold else False,
        "history": found[1],
    }


@router.get("/profiles/{profile_id}/consent")
def get_consent(
    request: Request, profile_id: str, key: Annotated[ApiKey, Depends(authorize(Scope.READ))]
) -> dict[str, Any]:
    """Consent per purpose (what applies now, whether the person stated it) and its history."""
    consent = _consent(runtime(request), profile_id)
    audited(request, key, "consent.read", consent["profile_id"])
    return consent


@router.put("/profiles/{profile_id}/consent")
async def put_consent(
    request: Request,
    profile_id: str,
    body: ConsentIn,
    key: Annotated[ApiKey, Depends(authorize(Scope.WRITE))],
) -> dict[str, Any]:
    """Record consent choices for a profile (as a ``consent_updated`` event); they hold for the
    person's next request, and the history keeps the policy version and source."""
    rt = runtime(request)
    identity = rt.profiles.identity_of(profile_id)
    if identity is None:
        raise NotFound(f"no profile for id {profile_id!r}")
    user_id, anonymous_id = identity
    statement = body.model_dump(mode="json", exclude_none=True)
    event = _event(
        EventType.CONSENT_UPDATED,
        None,
        None,
        user_id=user_id,
        anonymous_id=anonymous_id,
        context={"consent": statement},
        properties={},
    )
    await ingest_and_stitch(rt, event, key)
    consent = _consent(rt, profile_id)
    changes = {purpose.value: granted for purpose, granted in body.purposes.items()}
    if body.do_not_sell is not None:
        changes[DO_NOT_SELL] = body.do_not_sell
    audited(request, key, "consent.changed", consent["profile_id"], {"choices": changes})
    return consent
