"""The worker's scheduler: named jobs on intervals, one runner at a time across all workers.

A job runs only while its worker holds the job's row in ``job_locks`` (taken when absent or
expired, renewed by the run's heartbeat), so two workers never run the same job. Every run is
recorded in ``job_runs`` with its status and details for the dashboard.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from shopwise.logs import Progress
from shopwise.store import job_locks, job_runs, write_transaction

log = logging.getLogger("shopwise.worker")

JobFn = Callable[[Progress], dict[str, Any]]
"""A job: called with a progress reporter, returns details recorded with the run."""


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: JobFn
    lock_seconds: float = 3600.0


def _now() -> int:
    return int(time.time() * 1000)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Scheduler:
    """Runs :class:`Job` s when due (see module docstring)."""

    def __init__(self, engine: sa.Engine, jobs: list[Job], owner: str | None = None) -> None:
        self._engine = engine
        self._jobs = jobs
        self._owner = owner or worker_id()
        self._next: dict[str, float] = {job.name: 0.0 for job in jobs}

    def acquire(self, job: Job) -> bool:
        now = _now()
        expires = now + int(job.lock_seconds * 1000)
        with write_transaction(self._engine) as conn:
            conn.execute(
                job_locks.delete().where(job_locks.c.job == job.name, job_locks.c.expires_at < now)
            )
            try:
                conn.execute(
                    job_locks.insert().values(job=job.name, owner=self._owner, expires_at=expires)
                )
            except sa.exc.IntegrityError:
                return False
        return True

    def release(self, job: Job) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(
                job_locks.delete().where(
                    job_locks.c.job == job.name, job_locks.c.owner == self._owner
                )
            )

    def run_once(self, job: Job) -> dict[str, Any] | None:
        """Run ``job`` now if no other worker holds it; its details, or ``None`` when skipped."""
        if not self.acquire(job):
            log.info("job held by another worker", extra={"job": job.name})
            return None
        started = _now()
        with write_transaction(self._engine) as conn:
            run_id = conn.execute(
                job_runs.insert()
                .values(
                    job=job.name,
                    owner=self._owner,
                    status="running",
                    started_at=started,
                    heartbeat_at=started,
                    detail={},
                )
                .returning(job_runs.c.id)
            ).scalar_one()

        def progress(message: str) -> None:
            with write_transaction(self._engine) as conn:
                conn.execute(
                    job_runs.update()
                    .where(job_runs.c.id == run_id)
                    .values(heartbeat_at=_now(), detail={"progress": message})
                )

        status, detail = "succeeded", {}
        try:
            detail = job.run(progress)
        except Exception as exc:  # boundary: a failed job is recorded; the worker goes on
            log.exception("job failed", extra={"job": job.name})
            status, detail = "failed", {"error": f"{exc.__class__.__name__}: {exc}"}
        finally:
            with write_transaction(self._engine) as conn:
                conn.execute(
                    job_runs.update()
                    .where(job_runs.c.id == run_id)
                    .values(status=status, finished_at=_now(), heartbeat_at=_now(), detail=detail)
                )
            self.release(job)
        return detail

    def run_forever(self, stop: threading.Event, tick_seconds: float = 1.0) -> None:
        while not stop.is_set():
            for job in self._jobs:
                if time.monotonic() >= self._next[job.name] and not stop.is_set():
                    self.run_once(job)
                    self._next[job.name] = time.monotonic() + job.every_seconds
            stop.wait(tick_seconds)


def recent_runs(engine: sa.Engine, limit: int = 20) -> list[dict[str, Any]]:
    query = sa.select(job_runs).order_by(job_runs.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
