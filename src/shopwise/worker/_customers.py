"""The customer-model job of the worker: keep stored scores fresh, retrain when models age."""

from __future__ import annotations

import functools
from typing import Any, Final

from shopwise.logs import Progress
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.worker._isolated import in_own_process
from shopwise.worker._scheduler import Job

SCORE_REFRESH_SECONDS: Final = 60 * 60
TRAIN_SECONDS: Final = 24 * 60 * 60


def customer_jobs(
    settings: Settings,
    *,
    refresh_seconds: float = SCORE_REFRESH_SECONDS,
    train_seconds: float = TRAIN_SECONDS,
) -> list[Job]:
    """The worker's customer-intelligence job: refresh scores every ``refresh_seconds``.

    One job (one lock), so a refresh never races a retraining: a run retrains every family first
    when a champion is missing or older than ``train_seconds``, then stores fresh scores. It reads
    the whole population, so it runs in a process of its own (:func:`in_own_process`).
    """
    task = functools.partial(refresh_customer_scores, train_seconds=train_seconds)
    return [
        Job(
            name="refresh-customer-scores",
            every_seconds=refresh_seconds,
            run=in_own_process(settings, task),
        )
    ]


def refresh_customer_scores(
    runtime: Runtime, progress: Progress, *, train_seconds: float
) -> dict[str, Any]:
    """Retrain every customer family when a champion is missing or older than ``train_seconds``
    (which stores fresh scores too), else store fresh scores with the champions."""
    customers = runtime.customers
    if customers.models.needs_training(train_seconds):
        return customers.retrain(progress=progress)
    return customers.scores.refresh(customers.frames(), progress)
