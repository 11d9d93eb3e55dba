"""Experiments over HTTP (admin key): define, list, change, start and stop.

Thin routes over :class:`shopwise.experiments.Experiments`; every change is audited. A bad body
is a 400 naming the field, an unknown id 404, a change the experiment's status forbids 409 (see
:mod:`shopwise.experiments._service` for the life of an experiment).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from shopwise.api._auth import audited, authorize
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.experiments import Experiment, ExperimentSpec, ExperimentUpdate

router = APIRouter(prefix="/v1", tags=["experiments"])

Admin = Annotated[ApiKey, Depends(authorize(Scope.ADMIN))]


def _public(experiment: Experiment) -> dict[str, Any]:
    return experiment.model_dump(mode="json")


@router.post("/experiments", status_code=201)
def create_experiment(request: Request, spec: ExperimentSpec, key: Admin) -> dict[str, Any]:
    """Store a new experiment as a draft (409 when the id is taken)."""
    created = runtime(request).experiments.create(spec)
    audited(request, key, "experiment.created", created.id)
    return _public(created)


@router.get("/experiments")
def list_experiments(
    request: Request,
    _key: Admin,
    status: Annotated[
        Literal["draft", "running", "stopped"] | None, Query(description="Only these.")
    ] = None,
) -> dict[str, Any]:
    """Every experiment, the newest first."""
    found = runtime(request).experiments.list(status)
    return {"experiments": [_public(experiment) for experiment in found]}


@router.get("/experiments/{experiment_id}")
def get_experiment(request: Request, experiment_id: str, _key: Admin) -> dict[str, Any]:
    """One experiment: its definition, status and when it started and stopped."""
    return _public(runtime(request).experiments.get(experiment_id))


@router.patch("/experiments/{experiment_id}")
def update_experiment(
    request: Request, experiment_id: str, change: ExperimentUpdate, key: Admin
) -> dict[str, Any]:
    """Change weights, audience or metrics of a draft or running experiment."""
    changed = runtime(request).experiments.update(experiment_id, change)
    details = change.model_dump(mode="json", exclude_none=True)
    audited(request, key, "experiment.changed", experiment_id, details)
    return _public(changed)


@router.post("/experiments/{experiment_id}/start")
def start_experiment(request: Request, experiment_id: str, key: Admin) -> dict[str, Any]:
    """Start a draft: shoppers are assigned from now on."""
    started = runtime(request).experiments.start(experiment_id)
    audited(request, key, "experiment.started", experiment_id)
    return _public(started)


@router.post("/experiments/{experiment_id}/stop")
def stop_experiment(request: Request, experiment_id: str, key: Admin) -> dict[str, Any]:
    """Stop a running experiment: nobody is assigned any more."""
    stopped = runtime(request).experiments.stop(experiment_id)
    audited(request, key, "experiment.stopped", experiment_id)
    return _public(stopped)
