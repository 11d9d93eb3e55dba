"""Customer scores, segments and audience exports: ``/v1/profiles/{id}/scores``, ``/v1/segments``.

Thin routes over :class:`shopwise.customers.CustomerIntelligence`: scores are read from the
store (kept current by the worker's refresh job), a profile can be re-scored on demand, the
dashboard reads segment sizes over time, and an admin key can download the consent-filtered
lookalike audience (hashed emails) or the bid multipliers as CSV.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shopwise.api._auth import audited, authorize
from shopwise.api._openapi import ErrorEnvelope
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.customers import CustomerIntelligence, ScoreStore
from shopwise.errors import NotFound

router = APIRouter(prefix="/v1", tags=["customer intelligence"])


class ExportIn(BaseModel):
    """What to export."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["lookalike", "bids"] = "lookalike"
    """``lookalike``: hashed emails of the customers most like the top-CLV seed; ``bids``: the
    bid multiplier per segment."""
    top_n: int = Field(default=1000, ge=1, le=1_000_000)
    """Most lookalike rows written (after consent filtering)."""
    seed_share: float = Field(default=0.1, gt=0, lt=1)
    """Share of profiles, by predicted CLV, that forms the seed audience."""


def _service(request: Request) -> CustomerIntelligence:
    return runtime(request).customers


def _scores(scores: ScoreStore, profile_id: str) -> dict[str, Any]:
    found = scores.profile_scores(profile_id)
    if found is None:
        raise NotFound(f"no profile for id {profile_id!r}")
    return found


@router.get("/profiles/{profile_id}/scores")
def get_scores(
    request: Request, profile_id: str, key: Annotated[ApiKey, Depends(authorize(Scope.READ))]
) -> dict[str, Any]:
    """Current propensity and CLV scores, segment and audiences of a profile, by any linked id."""
    found = _scores(_service(request).scores, profile_id)
    audited(request, key, "scores.read", found["profile_id"])
    return found


@router.post("/profiles/{profile_id}/scores/refresh")
def refresh_scores(
    request: Request, profile_id: str, key: Annotated[ApiKey, Depends(authorize(Scope.WRITE))]
) -> dict[str, Any]:
    """Re-score one profile now with the current models (features of the whole population)."""
    rt = runtime(request)
    service = rt.customers
    profile = rt.profiles.canonical(profile_id)
    if profile is None:
        raise NotFound(f"no profile for id {profile_id!r}")
    service.scores.refresh(service.frames(), only=[profile])
    audited(request, key, "scores.refreshed", profile)
    return _scores(service.scores, profile)


@router.get("/segments")
def get_segments(
    request: Request,
    _key: Annotated[ApiKey, Depends(authorize(Scope.READ))],
    kind: Literal["segment", "audience"] | None = Query(None, description="Filter by kind."),
    since: AwareDatetime | None = Query(None, description="Sizes scored at or after this time."),
) -> dict[str, Any]:
    """Segment and audience sizes at every full refresh, oldest first (dashboard history)."""
    since_ms = 0 if since is None else int(datetime.timestamp(since) * 1000)
    return {"sizes": _service(request).scores.segment_history(kind, since_ms)}


@router.post(
    "/audiences/export",
    response_class=Response,
    responses={
        200: {
            "description": "The CSV file, as an attachment.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        503: {"model": ErrorEnvelope, "description": "No trained model yet (`model_not_trained`)."},
    },
)
def export_audience(
    request: Request, body: ExportIn, key: Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
) -> Response:
    """Download the lookalike audience (SHA-256 emails, ad consent only) or bids as CSV."""
    service = _service(request)
    out = io.StringIO()
    if body.kind == "lookalike":
        result = service.audiences.lookalikes(
            service.frames(), out, top_n=body.top_n, seed_share=body.seed_share
        )
        details = {"export_id": result["export_id"], "rows": result["rows"]}
    else:
        details = {"rows": service.audiences.bids(service.frames(), out)}
    audited(request, key, "audience.exported", body.kind, details)
    filename = f"shopwise-{body.kind}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
