"""Every job ``shopwise worker`` schedules."""

from __future__ import annotations

from shopwise.runtime import Runtime
from shopwise.worker._customers import customer_jobs
from shopwise.worker._recommenders import recommender_jobs
from shopwise.worker._scheduler import Job


def worker_jobs(
    runtime: Runtime, model: str, refresh_seconds: float, retrain_seconds: float
) -> list[Job]:
    """The recommender's jobs (candidate refresh, retraining ``model``) and the customer job."""
    jobs = recommender_jobs(runtime, model, refresh_seconds, retrain_seconds)
    return jobs + customer_jobs(runtime.customers)
