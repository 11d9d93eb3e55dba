"""The recorded job runs, as ``shopwise jobs`` and ``GET /v1/jobs`` show them.

A run is a row of ``job_runs`` (see :mod:`shopwise.worker._scheduler` for its statuses); shown with
ISO-8601 UTC times, its duration (so far, while it runs) and its details: the last progress
message while it runs, the job's result when it succeeded, the error or the reason it was skipped.
A ``requested`` run is a request to run the job now (``request_run``) still waiting, its duration
how long it has waited; a ``consumed`` one names the run that answered it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa

from shopwise.errors import NotFound
from shopwise.store import job_runs

MAX_RUNS: Final = 500
"""The most runs one listing returns."""
MAX_ID: Final = 2**63 - 1
"""The largest run id the store's 64-bit column holds."""


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _shown(row: sa.Row[Any], now_ms: int) -> dict[str, Any]:
    end = row.finished_at if row.finished_at is not None else now_ms
    return {
        "id": row.id,
        "job": row.job,
        "status": row.status,
        "owner": row.owner,
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "heartbeat_at": _iso(row.heartbeat_at),
        "duration_seconds": round(max(0, end - row.started_at) / 1000, 3),
        "detail": row.detail,
    }


def recent_runs(engine: sa.Engine, limit: int = 20, job: str | None = None) -> list[dict[str, Any]]:
    """The latest ``limit`` runs (of ``job`` when given), the newest first."""
    if not 1 <= limit <= MAX_RUNS:
        raise ValueError(f"limit must be from 1 to {MAX_RUNS}, not {limit}")
    query = sa.select(job_runs).order_by(job_runs.c.id.desc()).limit(limit)
    if job is not None:
        query = query.where(job_runs.c.job == job)
    now = int(time.time() * 1000)
    with engine.connect() as conn:
        return [_shown(row, now) for row in conn.execute(query)]


def job_run(engine: sa.Engine, run_id: int) -> dict[str, Any]:
    """One run by its id; :class:`NotFound` for an unknown id."""
    row = None
    if 1 <= run_id <= MAX_ID:  # a larger id would overflow the column's type, not just miss
        with engine.connect() as conn:
            row = conn.execute(sa.select(job_runs).where(job_runs.c.id == run_id)).first()
    if row is None:
        raise NotFound(f"no job run {run_id}")
    return _shown(row, int(time.time() * 1000))


def run_summary(run: dict[str, Any]) -> str:
    """The one-line state of a shown run: its error, skip reason or last progress message."""
    detail = run["detail"]
    for key in ("error", "reason", "progress"):
        if key in detail:
            return str(detail[key])
    return ", ".join(f"{k}={v}" for k, v in detail.items() if not isinstance(v, dict | list))
