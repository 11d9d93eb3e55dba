"""The drift job of the worker: check for drift every hour and act on it.

:class:`~shopwise.drift.DriftMonitor` only detects. When its report finds drift beyond the
thresholds, this job (1) requests a run of the recommender's retraining job now
(:func:`~shopwise.worker._scheduler.request_run`: the scheduler runs it at once, through the
champion/challenger gate like any retraining), and (2) posts the report's verdict to
``SHOPWISE_DRIFT_WEBHOOK_URL`` when it is set, through the journeys' outbox: the job commits the
notification (its id is in the run's details) and the ``deliver-messages`` job signs, sends and
retries it like any webhook, so a receiver that is down never fails the drift job. Too little
data in either window is no drift: the run records why nothing was compared.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from shopwise.drift import DriftMonitor, DriftReport
from shopwise.errors import NotEnoughData
from shopwise.journeys import Message, Outbox
from shopwise.logs import Progress
from shopwise.runtime import Runtime
from shopwise.schema import Purpose
from shopwise.store import write_transaction
from shopwise.worker._isolated import in_own_process
from shopwise.worker._scheduler import Job, request_run

DRIFT_SECONDS: Final = 60 * 60.0
"""How often the worker checks for drift (hourly)."""
DRIFT_JOB: Final = "drift-check"
DRIFT_FOLDER: Final = "drift"
"""The folder under the data dir holding the drift reports."""


def drift_monitor(runtime: Runtime, folder: Path | None = None) -> DriftMonitor:
    """The drift check over ``runtime``'s store, saving reports under ``folder`` (by default
    ``<data_dir>/drift``, where ``GET /v1/drift`` reads the latest)."""
    return DriftMonitor(
        runtime.engine,
        runtime.catalog,
        runtime.consent,
        runtime.recommenders,
        folder or runtime.settings.data_dir / DRIFT_FOLDER,
        champion=runtime.champion,
    )


Notify = Callable[[dict[str, Any]], str]
"""Hands a notification to the outbox; the outbox message's id."""


def drift_notifier(runtime: Runtime) -> Notify | None:
    """Notifications to ``SHOPWISE_DRIFT_WEBHOOK_URL`` through the journeys' outbox (signed
    with ``SHOPWISE_WEBHOOK_SECRET``, retried, logged), or ``None`` without a URL."""
    url = runtime.settings.drift_webhook_url
    if url is None:
        return None
    outbox = Outbox.from_settings(runtime.settings, runtime.engine, runtime.consent, runtime.cipher)

    def notify(payload: dict[str, Any]) -> str:
        message = Message(
            "webhook",
            str(url),
            payload,
            f"drift:{payload['created_at']}",
            kind="drift.detected",
            purpose=Purpose.ANALYTICS,  # aggregates about no one person: no consent to check
        )
        with write_transaction(runtime.engine) as conn:
            return outbox.enqueue(conn, message).message_id

    return notify


def notification(report: DriftReport, retrain_run: int) -> dict[str, Any]:
    """What the webhook posts: the verdict, the drifted features with their statistics and the
    windows (aggregates only, no shopper), and the requested retraining run."""
    return {
        "event": "drift.detected",
        "created_at": report.to_dict()["created_at"],
        "verdict": report.verdict,
        "champion": report.champion,
        "windows": {"reference": report.reference.to_dict(), "recent": report.recent.to_dict()},
        "drifted": [
            {"name": f.name, "fired": f.fired, "statistics": f.to_dict()["statistics"]}
            for f in report.drifted
        ],
        "retrain_run_id": retrain_run,
        "report": report.files(),
    }


def check_drift(
    monitor: DriftMonitor,
    retrain_job: str,
    notify: Notify | None,
    progress: Progress,
) -> dict[str, Any]:
    """One drift check and its actions; the details the run records."""
    progress("comparing the champion's training window with the recent events")
    try:
        report = monitor.check()
    except NotEnoughData as exc:
        return {"verdict": "not_enough_data", "reason": exc.message}
    drifted = [f.name for f in report.drifted]
    detail: dict[str, Any] = {"verdict": report.verdict, "drifted": drifted}
    detail["report"] = str(report.folder) if report.folder is not None else None
    if not drifted:
        return detail
    reason = f"drift in {', '.join(drifted)} (report {detail['report']})"
    detail["retrain_run_id"] = request_run(monitor.engine, retrain_job, reason, DRIFT_JOB)
    progress(f"drift in {len(drifted)} features: retraining requested")
    if notify is not None:
        detail["notification"] = notify(notification(report, detail["retrain_run_id"]))
    return detail


def drift_job(runtime: Runtime, retrain_job: str, every_seconds: float = DRIFT_SECONDS) -> Job:
    """Check for drift every ``every_seconds``; on drift, request ``retrain_job`` and notify.

    Waits for a recommender champion (its training window is the reference). A check reads
    every event of the recent window, so it runs in a process of its own (:func:`in_own_process`).
    """

    def waits_for() -> str | None:
        if runtime.recommenders.champion() is None:
            return "no recommender champion yet (nothing to compare the recent events with)"
        return None

    task = functools.partial(_check, retrain_job=retrain_job)
    return Job(
        DRIFT_JOB, every_seconds, in_own_process(runtime.settings, task), waits_for=waits_for
    )


def _check(runtime: Runtime, progress: Progress, *, retrain_job: str) -> dict[str, Any]:
    """One drift check over ``runtime`` (in the job's own process)."""
    return check_drift(drift_monitor(runtime), retrain_job, drift_notifier(runtime), progress)
