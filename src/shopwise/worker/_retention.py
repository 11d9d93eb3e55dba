"""Retention: the worker deletes raw events and dead letters older than the retention period.

Raw events (the ``events`` table, shopwise's exposures included) and dead letters are kept for
``SHOPWISE_RETENTION_DAYS``, by event time (``events.timestamp``) and receive time
(``dead_letters.received_at``). What is not a raw event stays: the consent history is the proof
of what each person agreed to and when, and the audit log and the privacy requests are the proof
of who did what with personal data; profiles are folds of events and keep their counters and
affinities when the events they came from go (they are erased with the person).

Job runs are the worker's own history, not personal data: finished runs older than
:data:`JOB_RUN_DAYS` go (a job every few seconds would otherwise add thousands of rows a day), but
the newest of each job and status stays, which is what tells the scheduler when each job is due.

Rows go in batches of :data:`BATCH_ROWS`, one transaction each, so a first run over years of
events never holds the write lock long enough to stall ingestion. On SQLite the freed space is
overwritten and the write-ahead log checkpointed, as an erasure does, so a deleted event is not
left readable in the file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import sqlalchemy as sa

from shopwise.logs import Progress
from shopwise.runtime import Runtime
from shopwise.store import dead_letters, events, is_sqlite, job_runs, write_transaction
from shopwise.worker._scheduler import Job

RETENTION_SECONDS: Final = 24 * 60 * 60
"""How often the worker deletes expired rows."""
BATCH_ROWS: Final = 10_000
"""Rows deleted per transaction."""
DAY_MS: Final = 24 * 60 * 60 * 1000
JOB_RUN_DAYS: Final = 30
"""Days finished job runs are kept (the newest of each job and status always stays)."""


def delete_expired(
    engine: sa.Engine,
    retention_days: int,
    *,
    now_ms: int | None = None,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Delete the events and dead letters older than ``retention_days``, and the finished job
    runs older than :data:`JOB_RUN_DAYS` but the newest of each job and status.

    Parameters
    ----------
    engine
        The store.
    retention_days
        Days kept; an event is deleted when its time is before ``now - retention_days``.
    now_ms
        The present in epoch milliseconds (the clock by default).
    batch_rows
        Rows deleted per transaction.
    progress
        Told the running counts after each batch.

    Returns
    -------
    dict
        ``events``, ``dead_letters`` and ``job_runs`` deleted, and ``before``: the cutoff of
        the events (epoch ms).
    """
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, not {retention_days}")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    cutoff = now - retention_days * DAY_MS
    counts = {"before": cutoff, "events": 0, "dead_letters": 0, "job_runs": 0}

    def report(name: str, removed: int) -> None:
        counts[name] += removed
        if progress is not None:
            progress(
                f"deleted {counts['events']} events, {counts['dead_letters']} dead letters, "
                f"{counts['job_runs']} job runs"
            )

    _delete_before(engine, events, events.c.timestamp < cutoff, batch_rows, report)
    _delete_before(engine, dead_letters, dead_letters.c.received_at < cutoff, batch_rows, report)
    _delete_before(engine, job_runs, _old_runs(now - JOB_RUN_DAYS * DAY_MS), batch_rows, report)
    if is_sqlite(engine) and (counts["events"] or counts["dead_letters"]):
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return counts


def _old_runs(before: int) -> sa.ColumnElement[bool]:
    """Finished job runs before ``before`` that are not the newest of their job and status."""
    newest = (
        sa.select(sa.func.max(job_runs.c.id))
        .where(job_runs.c.finished_at.is_not(None))
        .group_by(job_runs.c.job, job_runs.c.status)
    )
    return sa.and_(job_runs.c.finished_at < before, job_runs.c.id.not_in(newest))


def _delete_before(
    engine: sa.Engine,
    table: sa.Table,
    expired: sa.ColumnElement[bool],
    batch_rows: int,
    report: Callable[[str, int], None],
) -> None:
    """Delete ``table``'s expired rows, ``batch_rows`` a transaction, until none is left."""
    # the ids are chosen inside the DELETE: no id list to send, and no host-parameter limit
    batch = sa.select(table.c.id).where(expired).limit(batch_rows)
    delete = table.delete().where(table.c.id.in_(batch))
    sqlite = is_sqlite(engine)
    while True:
        with write_transaction(engine) as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA secure_delete = ON")
            try:
                removed = conn.execute(delete).rowcount or 0
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA secure_delete = OFF")
        report(table.name, removed)
        if removed < batch_rows:
            return


def retention_job(runtime: Runtime, every_seconds: float = RETENTION_SECONDS) -> Job:
    """Delete, daily, the raw events and dead letters older than ``SHOPWISE_RETENTION_DAYS``."""

    def run(progress: Progress) -> dict[str, Any]:
        return delete_expired(runtime.engine, runtime.settings.retention_days, progress=progress)

    return Job("retention", every_seconds, run)
