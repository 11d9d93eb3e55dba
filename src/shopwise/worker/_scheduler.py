"""The worker's scheduler: named jobs on intervals, each run by one worker at a time.

When is a job due? Its interval after its last ``succeeded`` (or ``skipped``) run, read from
``job_runs`` and so shared by every worker and kept across restarts; a job never run is due at
once. A ``failed`` run is retried after the interval or :data:`RETRY_SECONDS`, the shorter (a
retraining that failed on a store without events runs again soon after they arrive). A job may
name when its work was last done outside the scheduler (:attr:`Job.last_done`: the CLI's training
saves a champion), which counts as a succeeded run. A worker that restarts within the schedule
runs nothing that is not due.

Who runs it? The worker holding the job's row in ``job_locks``. The row is a short lease
(:data:`LEASE_SECONDS`) that a heartbeat thread renews while the job runs, and every progress
message renews it too; the run releases it at the end. A worker that dies stops renewing, so its
lease expires within :data:`LEASE_SECONDS` and another worker takes the job; its run, left
``running`` with a heartbeat older than the lease, is marked ``abandoned`` then. The due check
happens after the lease is taken, so two workers never both find a job due and run it twice back
to back.

Lanes: a job declares the ``long`` lane (training) or the ``short`` one (everything else), and
:meth:`Scheduler.run_forever` runs each lane in its own thread, so a retraining never delays the
candidate refresh or the KPIs. A job that needs what is not there yet (:attr:`Job.waits_for`: a
trained model) records a ``skipped`` run with the reason and is due again an interval later.

Memory: a run ends with a full garbage collection. A long-lived worker makes full passes rare
(:func:`shopwise.runtime.long_lived_gc`), so the cyclic garbage a job leaves (frames, states,
rows) would otherwise stay until one came, and every run of a job that reads many profiles would
add to the worker's memory. What the collection walks is what is not frozen, so it is short.

Out of schedule: :func:`request_run` (a drift check asking for a retraining) records a
``requested`` run, which makes the job due at once; the next run of the job (or skip) consumes
every request made before it, marking it ``consumed`` with the id of the run that answered it, in
the transaction that records that run, so two workers never both answer one request. Lanes look
for requests every :data:`REQUEST_POLL_SECONDS` even while their jobs are not due.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Literal

import sqlalchemy as sa

from shopwise.logs import Progress
from shopwise.store import job_locks, job_runs, write_transaction

log = logging.getLogger("shopwise.worker")

JobFn = Callable[[Progress], dict[str, Any]]
"""A job: called with a progress reporter, returns details recorded with the run."""
Lane = Literal["short", "long"]
"""``long`` for training jobs, ``short`` for the rest; each lane runs in its own thread."""

LEASE_SECONDS: Final = 60.0
"""How long a job's lock holds without a heartbeat: a dead worker's job waits at most this long."""
BEATS_PER_LEASE: Final = 3
"""Heartbeats within one lease, so one late beat never lets the lease lapse."""

RUNNING: Final = "running"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
SKIPPED: Final = "skipped"
ABANDONED: Final = "abandoned"
"""A run whose worker stopped heartbeating (it died, or lost its lock) before it finished."""
FINISHED: Final = (SUCCEEDED, FAILED, SKIPPED)
"""The statuses that set when a job is next due (an abandoned run is due again at once)."""
RETRY_SECONDS: Final = 15 * 60.0
"""The longest wait after a failed run before the job is tried again."""
REQUESTED: Final = "requested"
"""A run asked for out of schedule (:func:`request_run`), not yet answered by a run."""
CONSUMED: Final = "consumed"
"""A request a run answered (its detail names the run)."""
REQUEST_POLL_SECONDS: Final = 30.0
"""How often a lane looks for requested runs of jobs that are not due."""
HELD: Final = "held"
NOT_DUE: Final = "not_due"


@dataclass(frozen=True)
class Job:
    """A job the scheduler runs every ``every_seconds`` (see the module docstring).

    Attributes
    ----------
    name
        Unique among the worker's jobs; the key of its lock and its runs.
    every_seconds
        The interval between the end of one run and the next.
    run
        The work, called with a progress reporter; returns the details recorded with the run.
    lane
        ``long`` for training jobs, ``short`` for the rest.
    waits_for
        Why the job cannot run yet (a model it needs is missing), or ``None`` when it can.
    last_done
        When the job's work was last done outside the scheduler (epoch ms), or ``None``.
    """

    name: str
    every_seconds: float
    run: JobFn
    lane: Lane = "short"
    waits_for: Callable[[], str | None] | None = None
    last_done: Callable[[], int | None] | None = None


@dataclass(frozen=True)
class Outcome:
    """What one attempt at a job did: ``held`` (another worker has it), ``not_due``, or the
    status of the run it recorded (``succeeded``, ``failed``, ``skipped``) with its details."""

    status: str
    detail: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None


def request_run(
    engine: sa.Engine, job_name: str, reason: str, requested_by: str = "shopwise"
) -> int:
    """Ask for ``job_name`` to run as soon as a worker can (see the module docstring); the id of
    the ``requested`` run, or of the one already waiting (requests are not stacked)."""
    now = int(time.time() * 1000)
    waiting = (
        sa.select(job_runs.c.id)
        .where(job_runs.c.job == job_name, job_runs.c.status == REQUESTED)
        .order_by(job_runs.c.id)
        .limit(1)
    )
    with write_transaction(engine) as conn:
        existing = conn.execute(waiting).scalar()
        if existing is not None:
            return int(existing)
        values = {
            "job": job_name,
            "owner": requested_by[:64],
            "status": REQUESTED,
            "started_at": now,
            "heartbeat_at": now,
            "finished_at": None,
            "detail": {"reason": reason},
        }
        run_id: int = conn.execute(
            job_runs.insert().values(**values).returning(job_runs.c.id)
        ).scalar_one()
    log.info("job run requested", extra={"job": job_name, "reason": reason})
    return run_id


def worker_id() -> str:
    """This process, as job runs and locks name their owner (host and process id)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Scheduler:
    """Runs :class:`Job` s when due, one worker at a time (see the module docstring).

    Parameters
    ----------
    engine
        The store holding ``job_locks`` and ``job_runs``.
    jobs
        The jobs, with distinct names.
    owner
        The name locks and runs are taken under (this process and a random suffix by default,
        so two schedulers in one process never release each other's locks).
    lease_seconds
        The lock's lease; renewed every ``lease_seconds / BEATS_PER_LEASE`` while a job runs.
    clock
        The present in epoch seconds (``time.time`` by default; tests pass their own).
    """

    def __init__(
        self,
        engine: sa.Engine,
        jobs: list[Job],
        owner: str | None = None,
        *,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be distinct, got {names}")
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, not {lease_seconds}")
        self._engine = engine
        self._jobs = jobs
        self._owner = owner or f"{worker_id()[:50]}:{uuid.uuid4().hex[:8]}"
        self._lease_ms = int(lease_seconds * 1000)
        self._clock = clock

    @property
    def owner(self) -> str:
        return self._owner

    @property
    def lease_seconds(self) -> float:
        return self._lease_ms / 1000

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def due_at(self, job: Job) -> int:
        """When ``job`` is next due (epoch ms; ``0`` for a job never run)."""
        query = (
            sa.select(job_runs.c.status, sa.func.max(job_runs.c.finished_at))
            .where(job_runs.c.job == job.name, job_runs.c.status.in_(FINISHED))
            .group_by(job_runs.c.status)
        )
        with self._engine.connect() as conn:
            last: dict[str, int] = {row.status: row[1] for row in conn.execute(query)}
        done = [last.get(SUCCEEDED), last.get(SKIPPED)]
        if job.last_done is not None:
            done.append(job.last_done())
        every = int(job.every_seconds * 1000)
        due = [at + every for at in done if at is not None]
        if FAILED in last:
            due.append(last[FAILED] + min(every, int(RETRY_SECONDS * 1000)))
        scheduled = max(due, default=0)
        requested = self._requested_at(job)
        return scheduled if requested is None else min(scheduled, requested)

    def _requested_at(self, job: Job) -> int | None:
        """When the oldest unanswered request for ``job`` was made, or ``None``."""
        query = sa.select(sa.func.min(job_runs.c.started_at)).where(
            job_runs.c.job == job.name, job_runs.c.status == REQUESTED
        )
        with self._engine.connect() as conn:
            at = conn.execute(query).scalar()
        return None if at is None else int(at)

    def run_due(self, job: Job) -> Outcome:
        """Run ``job`` if no other worker holds it and it is due (checked under its lock)."""
        return self._take(job, force=False)

    def run_once(self, job: Job) -> dict[str, Any] | None:
        """Run ``job`` now, due or not, if no other worker holds it; the run's details, or
        ``None`` when another worker holds it."""
        outcome = self._take(job, force=True)
        return None if outcome.status == HELD else outcome.detail

    def _take(self, job: Job, force: bool) -> Outcome:
        if not self._acquire(job):
            log.info("job held by another worker", extra={"job": job.name})
            return Outcome(HELD)
        try:
            self._abandon_stale(job)
            if not force:
                due = self.due_at(job)
                if self._now() < due:
                    return Outcome(NOT_DUE, {"due_at": due})
            reason = job.waits_for() if job.waits_for is not None else None
            if reason is not None:
                return self._skip(job, reason)
            return self._execute(job)
        finally:
            self._release(job)

    def _acquire(self, job: Job) -> bool:
        """Take ``job``'s lock when it is free or its lease has lapsed."""
        now = self._now()
        current = sa.select(job_locks.c.owner, job_locks.c.expires_at).where(
            job_locks.c.job == job.name
        )
        with write_transaction(self._engine) as conn:
            held = conn.execute(current).first()
            if held is not None and held.expires_at >= now:
                return False
            if held is not None:
                log.warning("job lock expired; taking it over", extra={"job": job.name})
                conn.execute(job_locks.delete().where(job_locks.c.job == job.name))
            try:
                # a savepoint, so a writer that won the race (PostgreSQL) leaves the
                # transaction usable
                with conn.begin_nested():
                    conn.execute(
                        job_locks.insert().values(
                            job=job.name, owner=self._owner, expires_at=now + self._lease_ms
                        )
                    )
            except sa.exc.IntegrityError:
                return False
        return True

    def _release(self, job: Job) -> None:
        mine = (job_locks.c.job == job.name) & (job_locks.c.owner == self._owner)
        with write_transaction(self._engine) as conn:
            conn.execute(job_locks.delete().where(mine))

    def renew(self, job: Job, run_id: int, progress: str | None = None) -> bool:
        """Extend ``job``'s lease and its run's heartbeat (and record ``progress``); whether
        this worker still held the lock."""
        now = self._now()
        mine = (job_locks.c.job == job.name) & (job_locks.c.owner == self._owner)
        beat: dict[str, Any] = {"heartbeat_at": now}
        if progress is not None:
            beat["detail"] = {"progress": progress}
        with write_transaction(self._engine) as conn:
            renewed = conn.execute(
                job_locks.update().where(mine).values(expires_at=now + self._lease_ms)
            ).rowcount
            conn.execute(job_runs.update().where(job_runs.c.id == run_id).values(**beat))
        if not renewed:
            log.warning("job lock lost while running", extra={"job": job.name})
        return bool(renewed)

    def _abandon_stale(self, job: Job) -> None:
        """Mark ``job``'s runs left ``running`` by a worker that stopped heartbeating."""
        stale = (
            (job_runs.c.job == job.name)
            & (job_runs.c.status == RUNNING)
            & (job_runs.c.heartbeat_at < self._now() - self._lease_ms)
        )
        with write_transaction(self._engine) as conn:
            rows = conn.execute(sa.select(job_runs.c.id, job_runs.c.detail).where(stale)).all()
            for row in rows:
                detail = {**row.detail, "error": "the worker stopped heartbeating"}
                conn.execute(
                    job_runs.update()
                    .where(job_runs.c.id == row.id)
                    .values(status=ABANDONED, finished_at=job_runs.c.heartbeat_at, detail=detail)
                )
        for row in rows:
            log.warning("job run abandoned", extra={"job": job.name, "run_id": row.id})

    def _start(self, job: Job, status: str, detail: dict[str, Any]) -> int:
        now = self._now()
        values = {
            "job": job.name,
            "owner": self._owner,
            "status": status,
            "started_at": now,
            "heartbeat_at": now,
            "finished_at": None if status == RUNNING else now,
            "detail": detail,
        }
        with write_transaction(self._engine) as conn:
            run_id: int = conn.execute(
                job_runs.insert().values(**values).returning(job_runs.c.id)
            ).scalar_one()
            self._consume_requests(conn, job, run_id, now)
        return run_id

    def _consume_requests(self, conn: sa.Connection, job: Job, run_id: int, now: int) -> None:
        """Mark the requests for ``job`` made before run ``run_id`` as answered by it."""
        waiting = (
            (job_runs.c.job == job.name)
            & (job_runs.c.status == REQUESTED)
            & (job_runs.c.id < run_id)
        )
        for row in conn.execute(sa.select(job_runs.c.id, job_runs.c.detail).where(waiting)).all():
            conn.execute(
                job_runs.update()
                .where(job_runs.c.id == row.id, job_runs.c.status == REQUESTED)
                .values(status=CONSUMED, finished_at=now, detail={**row.detail, "run_id": run_id})
            )

    def _skip(self, job: Job, reason: str) -> Outcome:
        log.info("job skipped", extra={"job": job.name, "reason": reason})
        detail = {"reason": reason}
        return Outcome(SKIPPED, detail, self._start(job, SKIPPED, detail))

    def _execute(self, job: Job) -> Outcome:
        run_id = self._start(job, RUNNING, {})
        status, detail = FAILED, {"error": "interrupted"}
        try:
            with _Heartbeat(self, job, run_id):
                detail = job.run(lambda message: self._progress(job, run_id, message))
            status = SUCCEEDED
        except Exception as exc:  # boundary: a failed job is recorded; the worker goes on
            log.exception("job failed", extra={"job": job.name})
            detail = {"error": f"{exc.__class__.__name__}: {exc}"}
        finally:
            now = self._now()
            with write_transaction(self._engine) as conn:
                conn.execute(
                    job_runs.update()
                    .where(job_runs.c.id == run_id)
                    .values(status=status, finished_at=now, heartbeat_at=now, detail=detail)
                )
            gc.collect()
        return Outcome(status, detail, run_id)

    def _progress(self, job: Job, run_id: int, message: str) -> None:
        self.renew(job, run_id, message)

    def run_forever(self, stop: threading.Event, tick_seconds: float = 1.0) -> None:
        """Run the jobs as they fall due, one thread per lane, until ``stop`` is set (a running
        job finishes first)."""
        lanes: dict[str, list[Job]] = {}
        for job in self._jobs:
            lanes.setdefault(job.lane, []).append(job)
        threads = [
            threading.Thread(
                target=self._run_lane,
                args=(jobs, stop, tick_seconds),
                name=f"shopwise-{lane}-lane",
                daemon=True,
            )
            for lane, jobs in lanes.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=tick_seconds)

    def _run_lane(self, jobs: list[Job], stop: threading.Event, tick_seconds: float) -> None:
        next_check = {job.name: 0.0 for job in jobs}
        while not stop.is_set():
            for job in jobs:
                if stop.is_set():
                    break
                if self._clock() >= next_check[job.name]:
                    next_check[job.name] = self._check(job)
            stop.wait(tick_seconds)

    def _check(self, job: Job) -> float:
        """Run ``job`` if due; when to look at it again (epoch seconds)."""
        try:
            if self._now() >= self.due_at(job):
                outcome = self.run_due(job)
                if outcome.status == HELD:
                    return self._clock() + min(self.lease_seconds, job.every_seconds)
            # nothing but a newer run (or outside work) moves the due time, and only later;
            # a request may bring it forward at any time, so look again for one
            poll = self._clock() + min(REQUEST_POLL_SECONDS, job.every_seconds)
            return min(self.due_at(job) / 1000, poll)
        except Exception:  # boundary: the lane outlives a store hiccup and retries
            log.exception("scheduler check failed", extra={"job": job.name})
            return self._clock() + min(self.lease_seconds, job.every_seconds)


class _Heartbeat:
    """Renews one running job's lease from a thread, :data:`BEATS_PER_LEASE` times a lease."""

    def __init__(self, scheduler: Scheduler, job: Job, run_id: int) -> None:
        self._scheduler, self._job, self._run_id = scheduler, job, run_id
        self._stop = threading.Event()
        self._interval = scheduler.lease_seconds / BEATS_PER_LEASE
        self._thread = threading.Thread(
            target=self._beat, name=f"shopwise-heartbeat-{job.name}", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._scheduler.renew(self._job, self._run_id)
            except Exception:  # boundary: a missed beat is logged; the next one may land
                log.exception("job heartbeat failed", extra={"job": self._job.name})
