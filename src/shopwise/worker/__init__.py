"""The worker: scheduled jobs above the runtime, with database locks and recorded runs.

``shopwise worker`` runs :func:`worker_jobs` with the :class:`Scheduler`: the recommender's
candidate refresh and retraining (:func:`recommender_jobs`), the customer-model scores
(:func:`customer_jobs`), pending erasures (:func:`privacy_job`), the online KPIs
(:func:`kpis_job`) and the deletion of raw events past their retention (:func:`retention_job`).
The CLI's training commands call the same job functions.
"""

from shopwise.worker._customers import customer_jobs
from shopwise.worker._jobs import kpis_job, privacy_job, worker_jobs
from shopwise.worker._recommenders import (
    recommender_jobs,
    refresh_candidates,
    train_recommenders,
)
from shopwise.worker._retention import delete_expired, retention_job
from shopwise.worker._scheduler import Job, JobFn, Scheduler, recent_runs, worker_id

__all__ = [
    "Job",
    "JobFn",
    "Scheduler",
    "customer_jobs",
    "delete_expired",
    "kpis_job",
    "privacy_job",
    "recent_runs",
    "recommender_jobs",
    "refresh_candidates",
    "retention_job",
    "train_recommenders",
    "worker_id",
    "worker_jobs",
]
