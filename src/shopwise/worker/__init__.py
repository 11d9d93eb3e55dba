"""The worker: scheduled jobs above the runtime, with database locks and recorded runs.

``shopwise worker`` runs :func:`worker_jobs` with the :class:`Scheduler`: the recommender's
candidate refresh and retraining (:func:`recommender_jobs`), the customer-model scores
(:func:`customer_jobs`), pending erasures (:func:`privacy_job`), the online KPIs
(:func:`kpis_job`) and the deletion of raw events past their retention (:func:`retention_job`).
The CLI's training commands call the same job functions; ``shopwise jobs`` and ``GET /v1/jobs``
show the recorded runs (:func:`recent_runs`, :func:`job_run`).
"""

from shopwise.worker._customers import customer_jobs
from shopwise.worker._jobs import kpis_job, privacy_job, worker_jobs
from shopwise.worker._recommenders import (
    recommender_jobs,
    refresh_candidates,
    train_recommenders,
)
from shopwise.worker._retention import delete_expired, retention_job
from shopwise.worker._runs import MAX_RUNS, job_run, recent_runs, run_summary
from shopwise.worker._scheduler import (
    LEASE_SECONDS,
    RETRY_SECONDS,
    Job,
    JobFn,
    Lane,
    Outcome,
    Scheduler,
    worker_id,
)

__all__ = [
    "LEASE_SECONDS",
    "MAX_RUNS",
    "RETRY_SECONDS",
    "Job",
    "JobFn",
    "Lane",
    "Outcome",
    "Scheduler",
    "customer_jobs",
    "delete_expired",
    "job_run",
    "kpis_job",
    "privacy_job",
    "recent_runs",
    "recommender_jobs",
    "refresh_candidates",
    "retention_job",
    "run_summary",
    "train_recommenders",
    "worker_id",
    "worker_jobs",
]
