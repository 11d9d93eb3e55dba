"""Recommender jobs for the worker and the CLI: train and promote the recommender, refresh lists."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from shopwise.errors import ModelNotTrained
from shopwise.logs import Progress
from shopwise.profiles import ProfileState
from shopwise.recommend import profile_products
from shopwise.recommend.training import precompute, train_recommender
from shopwise.registry import ModelRegistry
from shopwise.runtime import Runtime
from shopwise.schema import Purpose
from shopwise.store import profiles
from shopwise.worker._scheduler import Job

REFRESH_SECONDS = 15 * 60
RETRAIN_SECONDS = 24 * 3600
HISTORY = 50


def train_recommenders(runtime: Runtime, model: str, progress: Progress) -> dict[str, Any]:
    """Train on the store's consented events, save a new version and make it the champion.

    Serving processes pick the new champion up within seconds, without a restart; the
    shoppers' precomputed lists are refreshed right after.
    """
    artifact, stats = train_recommender(
        runtime.engine, runtime.catalog, runtime.consent, model, progress
    )
    progress("saving the artifact")
    version = runtime.recommenders.save(artifact, stats, promote=True)
    runtime.champion.refresh()
    refreshed = refresh_candidates(runtime, progress)
    return {**stats, "version": version, "precomputed_profiles": refreshed["profiles"]}


def _histories(runtime: Runtime) -> dict[str, list[str]]:
    """The recent products of every profile whose consent allows personalization."""
    query = sa.select(profiles.c.profile_id, profiles.c.state).where(
        profiles.c.merged_into.is_(None)
    )
    histories = {}
    with runtime.engine.connect() as conn:
        for row in conn.execute(query):
            state = ProfileState.from_json(row.state)
            if not runtime.consent.allows(state.consent, Purpose.PERSONALIZATION):
                continue
            entries = sorted(profile_products(state))
            histories[row.profile_id] = [pid for _ts, pid in entries][-HISTORY:]
    return histories


def refresh_candidates(runtime: Runtime, progress: Progress) -> dict[str, Any]:
    """Precompute the ranked list of every shopper who allows personalization with the
    champion; serving swaps it in live."""
    runtime.champion.refresh()
    artifact, version = runtime.champion.get(), runtime.champion.version
    if artifact is None or version is None:
        raise ModelNotTrained("no recommender champion yet; run 'shopwise train recommenders'")
    progress("reading profile histories")
    lists = precompute(artifact, version, _histories(runtime), progress=progress)
    saved = runtime.precomputed_registry.save(
        lists, {"model_version": version, "profiles": len(lists.lists)}, promote=True
    )
    runtime.precomputed.refresh()
    return {"version": saved, "model_version": version, "profiles": len(lists.lists)}


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
    """
    return [
        Job(
            "refresh-candidates",
            refresh_seconds,
            lambda p: refresh_candidates(runtime, p),
            waits_for=lambda: _no_champion(runtime),
            last_done=lambda: champion_saved_at(runtime.precomputed_registry),
        ),
        Job(
            f"retrain-{model}",
            retrain_seconds,
            lambda p: train_recommenders(runtime, model, p),
            lane="long",
            last_done=lambda: champion_saved_at(runtime.recommenders),
        ),
    ]
