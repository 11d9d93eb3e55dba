"""The worker's job runs over HTTP (admin key): ``GET /v1/jobs`` and ``GET /v1/jobs/{run_id}``.

Thin routes over :func:`shopwise.worker.recent_runs` and :func:`shopwise.worker.job_run`: what
ran, when, for how long, and its result, progress, error or skip reason; an unknown id is a 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from shopwise.api._auth import authorize
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.worker import MAX_RUNS, job_run, recent_runs

router = APIRouter(prefix="/v1", tags=["jobs"])

Admin = Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
RunId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The run's id.")]
"""A run id: a positive 64-bit integer (a larger one would overflow the store's column)."""


@router.get("/jobs")
def list_job_runs(
    request: Request,
    _key: Admin,
    limit: Annotated[int, Query(ge=1, le=MAX_RUNS, description="Runs returned.")] = 50,
    job: Annotated[str | None, Query(max_length=64, description="Only this job's runs.")] = None,
) -> dict[str, Any]:
    """The recent runs of the worker's jobs, the newest first."""
    return {"runs": recent_runs(runtime(request).engine, limit, job)}


@router.get("/jobs/{run_id}")
def get_job_run(request: Request, run_id: RunId, _key: Admin) -> dict[str, Any]:
    """One job run: status, times, duration and details (result, progress, error or reason)."""
    return job_run(runtime(request).engine, run_id)
