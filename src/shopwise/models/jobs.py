"""Model jobs for the worker and the CLI: train the recommender and promote it to champion."""

from __future__ import annotations

from typing import Any

from shopwise.jobs import Job
from shopwise.models.training import Progress, train_recommender
from shopwise.runtime import Runtime

REFRESH_SECONDS = 15 * 60


def train_recommenders(runtime: Runtime, model: str, progress: Progress) -> dict[str, Any]:
    """Train on the store's consented events, save a new version and make it the champion.

    Serving processes pick the new champion up within seconds, without a restart.
    """
    artifact, stats = train_recommender(runtime.engine, runtime.catalog, model, progress)
    progress("saving the artifact")
    version = runtime.recommenders.save(artifact, stats, promote=True)
    runtime.champion.refresh()
    return {**stats, "version": version}


def refresh_job(
    runtime: Runtime, model: str = "transition", every_seconds: float = REFRESH_SECONDS
) -> Job:
    """Refresh the candidate model (transitions, popularity) from the latest events."""
    return Job(
        name=f"refresh-recommenders-{model}",
        every_seconds=every_seconds,
        run=lambda progress: train_recommenders(runtime, model, progress),
    )
