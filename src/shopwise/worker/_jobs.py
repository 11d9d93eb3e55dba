"""Every job ``shopwise worker`` schedules."""

from __future__ import annotations

from typing import Any, Final

from shopwise.kpis import KpiRefresh
from shopwise.logs import Progress
from shopwise.runtime import Runtime
from shopwise.worker._customers import SCORE_REFRESH_SECONDS, customer_jobs
from shopwise.worker._deliver import deliver_job
from shopwise.worker._drift import drift_job
from shopwise.worker._journeys import audiences_job, journeys_job
from shopwise.worker._recommenders import recommender_jobs
from shopwise.worker._retention import retention_job
from shopwise.worker._scheduler import Job

PRIVACY_SECONDS: Final = 60.0
"""How often the worker runs erasures left pending (the API runs its own right away)."""
KPI_SECONDS: Final = 300.0
"""How often the worker brings the online KPIs up to date with the new events."""


def worker_jobs(
    runtime: Runtime,
    model: str,
    refresh_seconds: float,
    retrain_seconds: float,
    scores_seconds: float = SCORE_REFRESH_SECONDS,
) -> list[Job]:
    """The recommender's jobs (candidate refresh, retraining ``model``), the customer job (every
    ``scores_seconds``, in a process of its own), the privacy job (pending erasures), the
    retention job (expired events and dead letters), the online KPIs, the drift check (which
    requests the retraining when it finds drift), the journeys' triggers, the delivery of the
    journeys' outbox messages and, when ``audience_webhook_url`` is set, the delivery of the
    acquisition audiences."""
    jobs = recommender_jobs(runtime, model, refresh_seconds, retrain_seconds)
    retrain = next(job.name for job in jobs if job.lane == "long")
    settings = runtime.settings
    if settings.audience_webhook_url is not None:
        hours = settings.audience_webhook_hours
        jobs.append(audiences_job(runtime, str(settings.audience_webhook_url), hours * 3600))
    return [
        *jobs,
        *customer_jobs(settings, refresh_seconds=scores_seconds),
        privacy_job(runtime),
        retention_job(runtime),
        kpis_job(runtime),
        drift_job(runtime, retrain),
        journeys_job(runtime),
        deliver_job(runtime),
    ]


def privacy_job(runtime: Runtime, every_seconds: float = PRIVACY_SECONDS) -> Job:
    """Run the erasures that are pending (or were left running by a stopped process)."""

    def run(_progress: Progress) -> dict[str, Any]:
        return {"erasures": [r["request_id"] for r in runtime.rights.run_pending()]}

    return Job("privacy-requests", every_seconds, run)


def kpis_job(runtime: Runtime, every_seconds: float = KPI_SECONDS) -> Job:
    """Recompute the KPI buckets the events since the last run touch (:class:`KpiRefresh`)."""
    refresh = KpiRefresh(runtime.engine, runtime.consent, runtime.settings.attribution_window_hours)

    def run(_progress: Progress) -> dict[str, Any]:
        return dict(refresh.run())

    return Job("kpis", every_seconds, run)
