"""``GET /metrics``: the app's Prometheus metrics in the text exposition format (admin key).

The metrics themselves are in :mod:`shopwise.api._metrics`: request rates and latencies per route
template, recommendation fallbacks, ingestion, and, read from the store and the model registry at
scrape time, bus lag, job outcomes, pending dead letters and model champions.

Auth: the admin key, like the other operator routes (``/v1/jobs``, ``/v1/dead-letters``). The
metrics name no shopper, but they show the shop's traffic, its jobs and models, and a scrape reads
the store; Prometheus sends the key as a bearer token (``authorization: {credentials_file: ...}``
in its scrape config, see README, Metrics).

Each server process answers for itself: with several processes, Prometheus scrapes every one of
them (each counts only its own requests) and queries sum them.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.responses import Response

from shopwise.api._auth import authorize
from shopwise.api._metrics import metrics_of
from shopwise.auth import ApiKey, Scope

router = APIRouter(tags=["operations"])

Admin = Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
MEDIA_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4
"""The text exposition format (every metric name here is a legacy one, so the output is the same
in its newer versions)."""


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "The metrics in Prometheus' text exposition format.",
            "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
def metrics(request: Request, _key: Admin) -> Response:
    """The process's Prometheus metrics (admin key); see README, Metrics, for the names."""
    return Response(generate_latest(metrics_of(request).registry), media_type=MEDIA_TYPE)
