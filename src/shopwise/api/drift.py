"""Drift over HTTP (admin key): ``GET /v1/drift`` and ``POST /v1/drift/check``.

Thin routes over :class:`shopwise.drift.DriftMonitor` (built from the runtime by
:func:`shopwise.worker.drift_monitor`): the latest saved report, or a check run now and saved
(it only reports; the worker's ``drift-check`` job acts on drift). No report yet is a 404; no
champion, or too few events in a window, a 409 (``not_enough_data``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from shopwise.api._auth import audited, authorize
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.errors import NotFound
from shopwise.worker import drift_monitor

router = APIRouter(prefix="/v1", tags=["drift"])

Admin = Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]


@router.get("/drift")
def latest_drift_report(request: Request, _key: Admin) -> dict[str, Any]:
    """The latest drift report: windows, every feature's statistics and verdict, the verdict."""
    report = drift_monitor(runtime(request)).latest()
    if report is None:
        raise NotFound("no drift report yet; POST /v1/drift/check or run 'shopwise drift report'")
    return report


@router.post("/drift/check")
def check_drift_now(
    request: Request,
    key: Admin,
    recent_days: Annotated[
        float | None,
        Body(embed=True, gt=0, le=365, description="Days of recent events (default 7)."),
    ] = None,
) -> dict[str, Any]:
    """Run a drift check now, save its report and return it."""
    report = drift_monitor(runtime(request)).check(recent_days)
    audited(request, key, "drift.checked", None, {"verdict": report.verdict})
    return report.to_dict()
