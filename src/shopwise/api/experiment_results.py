"""An experiment's results: ``GET /v1/experiments/{id}/results``.

A thin route over :func:`shopwise.experiments.results_of`: the experiment from its start to its
stop (or now), read from the event log with the attribution window and consent modes of the KPIs.
Like the KPIs, a secret key reads it (the answer names no shopper); an unknown id is a 404 and an
experiment that has not started a 409.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from shopwise.api._auth import authorize
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.experiments import results_of

router = APIRouter(prefix="/v1", tags=["experiments"])


@router.get("/experiments/{experiment_id}/results")
def get_experiment_results(
    request: Request,
    experiment_id: Annotated[str, Path(max_length=64)],
    _key: Annotated[ApiKey, Depends(authorize(Scope.READ))],
    look_minutes: Annotated[
        int, Query(ge=1, le=10_080, description="Minutes between the sequential test's looks.")
    ] = 1440,
) -> dict[str, Any]:
    """The sequential decision, the sample ratio check, the arms and every metric per variant."""
    rt = runtime(request)
    experiment = rt.experiments.get(experiment_id)
    found = results_of(
        rt.engine,
        experiment,
        policy=rt.consent,
        now_ms=int(time.time() * 1000),
        window_hours=rt.settings.attribution_window_hours,
        look_ms=look_minutes * 60_000,
    )
    return found.to_dict()
