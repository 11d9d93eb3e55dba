"""The model registry over HTTP (admin key): list, show, promote and roll back versions.

Thin routes over :mod:`shopwise.worker`'s registry functions (``shopwise models`` is the same from
the shell): every version with its status, data window, holdout metrics, gate decision, size and
training time. A promotion or rollback is audited and reaches the serving processes within
seconds; an unknown family or version is a 404, a rollback with no earlier champion a 409.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from shopwise.api._auth import audited, authorize
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.worker import list_models, promote_model, rollback_model, show_model

router = APIRouter(prefix="/v1", tags=["models"])

Admin = Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]
Family = Annotated[
    str, Path(max_length=64, description="recommenders, propensity, clv or segments.")
]
Version = Annotated[str, Path(max_length=64, description="The version id.")]
Reason = Annotated[
    str, Body(embed=True, min_length=1, max_length=500, description="Kept with the change.")
]


@router.get("/models")
def list_versions(
    request: Request,
    _key: Admin,
    family: Annotated[str | None, Query(max_length=64, description="Only this family.")] = None,
) -> dict[str, Any]:
    """Every saved model version, the newest first within each family."""
    return {"models": list_models(runtime(request), family)}


@router.get("/models/{family}/{version}")
def get_version(request: Request, family: Family, version: Version, _key: Admin) -> dict[str, Any]:
    """One version's full record: parameters, data window and fingerprint, holdout metrics, the
    gate's decision, size, training time, status and the family's champion pointer."""
    return show_model(runtime(request), family, version)


@router.post("/models/{family}/{version}/promote")
def promote_version(
    request: Request,
    family: Family,
    version: Version,
    key: Admin,
    reason: Reason = "promoted by an operator",
) -> dict[str, Any]:
    """Make ``version`` the family's champion; the new champion pointer."""
    record = promote_model(runtime(request), family, version, reason)
    audited(request, key, "model.promoted", f"{family}/{version}", {"reason": reason})
    return record


@router.post("/models/{family}/rollback")
def rollback_family(
    request: Request, family: Family, key: Admin, reason: Reason = "rolled back by an operator"
) -> dict[str, Any]:
    """Restore the family's previous champion at once; the new champion pointer."""
    record = rollback_model(runtime(request), family, reason)
    audited(request, key, "model.rolled_back", f"{family}/{record['version']}", {"reason": reason})
    return record
