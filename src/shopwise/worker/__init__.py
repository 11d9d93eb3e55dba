"""The worker: scheduled jobs above the runtime, with database locks and recorded runs.

``shopwise worker`` runs :func:`worker_jobs` with the :class:`Scheduler`: the recommender's
candidate refresh and retraining (:func:`recommender_jobs`), the customer-model scores
(:func:`customer_jobs`), pending erasures (:func:`privacy_job`), the online KPIs
(:func:`kpis_job`), the deletion of raw events past their retention (:func:`retention_job`) and
the drift check, which asks for a retraining out of schedule when it finds drift (:func:`drift_job`,
:func:`request_run`).
The CLI's training commands call the same job functions; ``shopwise jobs`` and ``GET /v1/jobs``
show the recorded runs (:func:`recent_runs`, :func:`job_run`). A retrained recommender replaces
the champion only through the champion/challenger :func:`gate`; ``shopwise models`` and
``/v1/models`` list, show, promote and roll back registry versions (:func:`list_models` and the
rest).
"""

from shopwise.worker._customers import customer_jobs
from shopwise.worker._deliver import DELIVER_JOB, deliver_job
from shopwise.worker._drift import DRIFT_JOB, check_drift, drift_job, drift_monitor, drift_notifier
from shopwise.worker._gate import GATE_METRIC, GateDecision, gate
from shopwise.worker._jobs import kpis_job, privacy_job, worker_jobs
from shopwise.worker._journeys import AUDIENCES_JOB, audiences_job
from shopwise.worker._models import (
    FAMILIES,
    list_models,
    promote_model,
    rollback_model,
    show_model,
)
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
    request_run,
    worker_id,
)

__all__ = [
    "AUDIENCES_JOB",
    "DELIVER_JOB",
    "DRIFT_JOB",
    "FAMILIES",
    "GATE_METRIC",
    "LEASE_SECONDS",
    "MAX_RUNS",
    "RETRY_SECONDS",
    "GateDecision",
    "Job",
    "JobFn",
    "Lane",
    "Outcome",
    "Scheduler",
    "audiences_job",
    "check_drift",
    "customer_jobs",
    "delete_expired",
    "deliver_job",
    "drift_job",
    "drift_monitor",
    "drift_notifier",
    "gate",
    "job_run",
    "kpis_job",
    "list_models",
    "privacy_job",
    "promote_model",
    "recent_runs",
    "recommender_jobs",
    "refresh_candidates",
    "request_run",
    "retention_job",
    "rollback_model",
    "run_summary",
    "show_model",
    "train_recommenders",
    "worker_id",
    "worker_jobs",
]
