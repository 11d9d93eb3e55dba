"""Online KPIs: ``GET /v1/kpis``, the counts and rates the worker's ``kpis`` job keeps.

A thin route over :func:`shopwise.kpis.read_kpis`; a secret key reads them (no shopper appears in
them). The range defaults to the seven days before now.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime

from shopwise.api._auth import authorize
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.kpis import DAY_MS, read_kpis

router = APIRouter(prefix="/v1", tags=["online KPIs"])

DEFAULT_DAYS = 7
"""Days shown when the request names no ``from``."""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@router.get("/kpis")
def get_kpis(
    request: Request,
    _key: Annotated[ApiKey, Depends(authorize(Scope.READ))],
    start: Annotated[
        AwareDatetime | None,
        Query(alias="from", description="First bucket start (default: seven days before `to`)."),
    ] = None,
    end: Annotated[
        AwareDatetime | None, Query(alias="to", description="Buckets starting before (now).")
    ] = None,
    grain: Annotated[Literal["hour", "day"], Query(description="Bucket size.")] = "day",
    placement: Annotated[str | None, Query(max_length=100)] = None,
    model_version: Annotated[str | None, Query(max_length=64)] = None,
    variant: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """KPIs of the served answers per bucket, placement, model, rule version and variant."""
    end_ms = int(time.time() * 1000) if end is None else _ms(end)
    start_ms = end_ms - DEFAULT_DAYS * DAY_MS if start is None else _ms(start)
    rows = read_kpis(
        runtime(request).engine,
        start_ms,
        end_ms,
        grain,
        placement=placement,
        model_version=model_version,
        variant=variant,
    )
    return {"grain": grain, "kpis": rows}
