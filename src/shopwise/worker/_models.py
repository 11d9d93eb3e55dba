"""The model registry as operators see it: versions of every family, promotion and rollback.

``shopwise models list|show|promote|rollback`` and ``/v1/models`` (admin) are thin layers over
these functions. A family is a :class:`~shopwise.registry.ModelRegistry` folder: ``recommenders``
(the next-item pipeline with its similar and complementary models) and the customer models
(``propensity``, ``clv``, ``segments``). Promoting or rolling back a recommender also points
serving at the precomputed lists made with that version when the worker kept some; otherwise
the candidate refresh is requested at once.
"""

from __future__ import annotations

from typing import Any, Final

from shopwise.customers import FAMILIES as CUSTOMER_FAMILIES
from shopwise.errors import Conflict, NotFound
from shopwise.registry import ModelRegistry
from shopwise.runtime import Runtime
from shopwise.worker._recommenders import REFRESH_JOB
from shopwise.worker._scheduler import request_run

RECOMMENDERS: Final = "recommenders"
FAMILIES: Final = (RECOMMENDERS, *CUSTOMER_FAMILIES)
"""The model families the registry shows, the recommender first."""


def _registries(runtime: Runtime) -> dict[str, ModelRegistry]:
    models = runtime.settings.models_dir
    return {
        RECOMMENDERS: runtime.recommenders,
        **{family: ModelRegistry(models, family) for family in CUSTOMER_FAMILIES},
    }


def _registry(runtime: Runtime, family: str) -> ModelRegistry:
    registries = _registries(runtime)
    if family not in registries:
        raise NotFound(f"no model family {family!r}; families: {', '.join(FAMILIES)}")
    return registries[family]


def _summary(registry: ModelRegistry, family: str, version: str) -> dict[str, Any]:
    """One version's row: what a list shows about it."""
    meta = registry.meta(version)
    gate = meta.get("gate") or {}
    return {
        "family": family,
        "version": version,
        "status": registry.status(version),
        "saved_at": meta.get("saved_at"),
        "model": meta.get("model"),
        "data_window": meta.get("data_window"),
        "holdout": meta.get("holdout"),
        "size_bytes": meta.get("size_bytes"),
        "fit_seconds": meta.get("fit_seconds"),
        "gate": gate.get("reason"),
    }


def list_models(runtime: Runtime, family: str | None = None) -> list[dict[str, Any]]:
    """Every saved version (of ``family``, or of all), the newest first within each family."""
    names = [family] if family is not None else list(FAMILIES)
    rows: list[dict[str, Any]] = []
    for name in names:
        registry = _registry(runtime, name)
        rows.extend(_summary(registry, name, v) for v in reversed(registry.versions()))
    return rows


def show_model(runtime: Runtime, family: str, version: str) -> dict[str, Any]:
    """One version: its full ``meta.json`` with its status and the champion pointer."""
    registry = _registry(runtime, family)
    if version not in registry.versions():
        raise NotFound(f"no {family} version {version!r}")
    return {
        **registry.meta(version),
        "family": family,
        "status": registry.status(version),
        "champion": registry.champion_record(),
    }


def promote_model(runtime: Runtime, family: str, version: str, reason: str) -> dict[str, Any]:
    """Make ``version`` the family's champion (an operator overruling the gate, say)."""
    registry = _registry(runtime, family)
    if version not in registry.versions():
        raise NotFound(f"no {family} version {version!r}")
    registry.promote(version, reason)
    return _after_change(runtime, family, registry)


def rollback_model(runtime: Runtime, family: str, reason: str) -> dict[str, Any]:
    """Restore the family's previous champion at once."""
    registry = _registry(runtime, family)
    try:
        registry.rollback(reason)
    except LookupError as error:
        raise Conflict(str(error)) from None
    return _after_change(runtime, family, registry)


def _after_change(runtime: Runtime, family: str, registry: ModelRegistry) -> dict[str, Any]:
    """The new champion record; for the recommender, serving points at its precomputed lists."""
    record = registry.champion_record()
    if family == RECOMMENDERS:
        runtime.champion.refresh()
        record["precomputed"] = _point_candidates(runtime, str(record["version"]))
    return record


def _point_candidates(runtime: Runtime, model_version: str) -> str | None:
    """Promote the newest precomputed lists made with ``model_version``; their version, or
    ``None`` when none is kept: then the worker's candidate refresh is asked to run now (it makes
    them with a full pass, the champion having changed), and serving keeps the lists it has
    until they are there."""
    lists = runtime.precomputed_registry
    for version in reversed(lists.versions()):
        if lists.meta(version).get("model_version") == model_version:
            lists.promote(version, f"lists of recommender {model_version}")
            runtime.precomputed.refresh()
            return version
    request_run(runtime.engine, REFRESH_JOB, f"recommender champion is now {model_version}")
    return None
