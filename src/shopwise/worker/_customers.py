"""The customer-model job of the worker: keep stored scores fresh, retrain when models age."""

from __future__ import annotations

from typing import Any, Final

from shopwise.customers import CustomerIntelligence
from shopwise.logs import Progress
from shopwise.worker._scheduler import Job

SCORE_REFRESH_SECONDS: Final = 60 * 60
TRAIN_SECONDS: Final = 24 * 60 * 60


def customer_jobs(
    customers: CustomerIntelligence,
    *,
    refresh_seconds: float = SCORE_REFRESH_SECONDS,
    train_seconds: float = TRAIN_SECONDS,
) -> list[Job]:
    """The worker's customer-intelligence job: refresh scores every ``refresh_seconds``.

    One job (one lock), so a refresh never races a retraining: a run retrains every family first
    when a champion is missing or older than ``train_seconds``, then stores fresh scores.
    """

    def run(progress: Progress) -> dict[str, Any]:
        if customers.models.needs_training(train_seconds):
            return customers.retrain(progress=progress)
        return customers.scores.refresh(customers.frames(), progress)

    return [Job(name="refresh-customer-scores", every_seconds=refresh_seconds, run=run)]
