"""Every job ``shopwise worker`` schedules."""

from __future__ import annotations

from typing import Any, Final

from shopwise.logs import Progress
from shopwise.runtime import Runtime
from shopwise.worker._customers import customer_jobs
from shopwise.worker._recommenders import recommender_jobs
from shopwise.worker._retention import retention_job
from shopwise.worker._scheduler import Job

PRIVACY_SECONDS: Final = 60.0
"""How often the worker runs erasures left pending (the API runs its own right away)."""


def worker_jobs(
    runtime: Runtime, model: str, refresh_seconds: float, retrain_seconds: float
) -> list[Job]:
    """The recommender's jobs (candidate refresh, retraining ``model``), the customer job, the
    privacy job (pending erasures) and the retention job (expired events and dead letters)."""
    jobs = recommender_jobs(runtime, model, refresh_seconds, retrain_seconds)
    return [*jobs, *customer_jobs(runtime.customers), privacy_job(runtime), retention_job(runtime)]


def privacy_job(runtime: Runtime, every_seconds: float = PRIVACY_SECONDS) -> Job:
    """Run the erasures that are pending (or were left running by a stopped process)."""

    def run(_progress: Progress) -> dict[str, Any]:
        return {"erasures": [r["request_id"] for r in runtime.rights.run_pending()]}

    return Job("privacy-requests", every_seconds, run)
