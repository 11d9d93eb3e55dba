"""Liveness and readiness probes."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request

from shopwise import __version__, store
from shopwise.api._errors import error_response
from shopwise.api._json import JsonResponse
from shopwise.api._openapi import ErrorEnvelope
from shopwise.api._runtime import runtime

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok", "version": __version__}


@router.get(
    "/readyz",
    response_model=None,
    responses={
        503: {
            "model": ErrorEnvelope,
            "description": "The store is unreachable (`store_unreachable`) or not migrated "
            "(`migrations_pending`).",
        }
    },
)
def readyz(request: Request) -> JsonResponse | dict[str, object]:
    """The store is reachable and migrated to the current revision."""
    engine = runtime(request).engine
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        current = store.current_revisions(engine)
    except sa.exc.SQLAlchemyError as exc:
        return error_response(
            503, "store_unreachable", f"store unreachable: {exc.__class__.__name__}"
        )
    heads = store.head_revisions()
    if current != heads:
        return error_response(
            503,
            "migrations_pending",
            f"store at {sorted(current) or 'no revision'}, code expects {sorted(heads)}; "
            "run 'shopwise db upgrade'",
        )
    return {"status": "ready", "revision": sorted(current)}
