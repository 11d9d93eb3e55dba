"""Recommender jobs for the worker and the CLI: train and promote the recommender, refresh lists."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from shopwise.logs import Progress
from shopwise.recommend.training import train_recommender
from shopwise.registry import ModelRegistry
from shopwise.runtime import Runtime
from shopwise.worker._gate import gate
from shopwise.worker._isolated import in_own_process
from shopwise.worker._refresh import refresh_precomputed
from shopwise.worker._scheduler import Job

REFRESH_SECONDS = 15 * 60
REFRESH_JOB = "refresh-candidates"
RETRAIN_SECONDS = 24 * 3600
HISTORY = 50


def train_recommenders(runtime: Runtime, model: str, progress: Progress) -> dict[str, Any]:
    """Train on the store's consented events and save a new version; it becomes the champion if
    the gate lets it (:func:`gate`), otherwise it stays a challenger with the reason recorded.

    Serving processes pick a new champion up within seconds, without a restart; the shoppers'
    precomputed lists are refreshed right after.
    """
    artifact, stats = train_recommender(
        runtime.engine, runtime.catalog, runtime.consent, model, progress
    )
    decision = gate(runtime, model, progress)
    progress("saving the artifact")
    meta = {**stats, "holdout": decision.challenger, "gate": decision.to_json()}
    version = runtime.recommenders.save(artifact, meta, promote=False)
    result = {**stats, "version": version, "promoted": decision.promoted, "gate": decision.reason}
    if not decision.promoted:
        progress(f"kept {version} as a challenger: {decision.reason}")
        return result
    runtime.recommenders.promote(version, decision.reason)
    runtime.champion.refresh()
    refreshed = refresh_candidates(runtime, progress)
    return {**result, "precomputed_profiles": refreshed["profiles"]}


def _retrain(runtime: Runtime, progress: Progress, *, model: str) -> dict[str, Any]:
    """:func:`train_recommenders` in the argument order of a job's own process."""
    return train_recommenders(runtime, model, progress)


def refresh_candidates(runtime: Runtime, progress: Progress) -> dict[str, Any]:
    """Precompute the ranked list of every shopper who allows personalization with the
    champion, recomputing only the profiles changed since the last refresh (with a periodic
    full pass: :mod:`shopwise.worker._refresh`); serving swaps it in live."""
    return refresh_precomputed(runtime, progress, HISTORY)


def champion_saved_at(registry: ModelRegistry) -> int | None:
    """When ``registry``'s champion was saved (epoch ms), or ``None`` without one."""
    version = registry.champion()
    if version is None:
        return None
    try:
        saved = registry.meta(version).get("saved_at")
    except FileNotFoundError:
        return None
    return None if saved is None else int(datetime.fromisoformat(saved).timestamp() * 1000)


def _no_champion(runtime: Runtime) -> str | None:
    """Why the candidate refresh must wait: no recommender champion to rank with yet."""
    if runtime.recommenders.champion() is None:
        return "no recommender champion yet (the retraining job or 'shopwise train recommenders')"
    return None


def recommender_jobs(
    runtime: Runtime,
    model: str = "shopwise",
    refresh_seconds: float = REFRESH_SECONDS,
    retrain_seconds: float = RETRAIN_SECONDS,
) -> list[Job]:
    """The recommender's scheduled jobs: candidate refresh (15 min) and retraining (daily).

    A champion saved outside the scheduler (``shopwise train recommenders``, the demo) counts as
    the last retraining, and its precomputed lists as the last refresh, so a worker started right
    after a training does not train again. The refresh waits for a champion (a ``skipped`` run).
    The retraining reads every consented event, so it runs in a process of its own
    (:func:`in_own_process`); this process's champion and lists pick its result up from the
    registry as every serving process does.
    """
    return [
        Job(
            REFRESH_JOB,
            refresh_seconds,
            lambda p: refresh_candidates(runtime, p),
            waits_for=lambda: _no_champion(runtime),
            last_done=lambda: champion_saved_at(runtime.precomputed_registry),
        ),
        Job(
            f"retrain-{model}",
            retrain_seconds,
            in_own_process(runtime.settings, functools.partial(_retrain, model=model)),
            lane="long",
            last_done=lambda: champion_saved_at(runtime.recommenders),
        ),
    ]
