"""Data subject requests over HTTP: ``/v1/privacy/export/{id}``, ``/v1/privacy/erase/{id}``,
``/v1/privacy/requests/{request_id}`` (secret key; every request is audited).

An erasure answers ``202`` with its request id at once and runs right after the answer (any
request left pending is run by the worker); its status goes ``pending``, ``running``,
``completed``, ``verified`` (or ``failed``, naming what the verification found).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import JSONResponse

from shopwise.api._auth import authorize
from shopwise.api._json import JsonResponse
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.errors import NotFound

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])


@router.get("/export/{any_id}")
def export(
    request: Request, any_id: str, key: Annotated[ApiKey, Depends(authorize(Scope.READ))]
) -> dict[str, Any]:
    """Everything held about the person behind any of their ids, as one JSON document."""
    return runtime(request).rights.export(any_id, f"key:{key.id}")


@router.post("/erase/{any_id}", status_code=202)
def erase(
    request: Request,
    any_id: str,
    background: BackgroundTasks,
    key: Annotated[ApiKey, Depends(authorize(Scope.WRITE))],
) -> JSONResponse:
    """Erase the person behind any of their ids from every store, model and cache; 202 with
    the request to follow."""
    rights = runtime(request).rights
    found = rights.request_erasure(any_id, f"key:{key.id}")
    background.add_task(rights.run_pending)
    return JsonResponse(found, status_code=202)


@router.get("/requests/{request_id}")
def status(
    request: Request, request_id: str, _key: Annotated[ApiKey, Depends(authorize(Scope.READ))]
) -> dict[str, Any]:
    """A privacy request's status and details."""
    found = runtime(request).rights.request(request_id)
    if found is None:
        raise NotFound(f"no privacy request {request_id!r}")
    return found
