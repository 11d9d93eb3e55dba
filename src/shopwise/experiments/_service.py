"""Experiments kept in the store, and their life: a draft is started once and stopped once.

::

    draft --start--> running --stop--> stopped

Weights, audience and metrics may change while an experiment is a draft or running (a weight
change moves nobody already assigned: assignment is sticky, see :mod:`._assign`); variants,
placements, kind, holdout and salt are fixed once created, so a result always compares what
it started with. A stopped experiment is read-only. Every change made here is announced to the
``changed`` callback (this process's assigner reloads at once; others within their refresh).

What a variant names (a registry model version, a stored rule or content version, a banner
block, layout sections) is checked against :class:`References` when the experiment is created
and again when it starts, so an experiment never serves a variant that cannot be shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import sqlalchemy as sa

from shopwise.decide import ContentSet, RuleSet, VersionedStore
from shopwise.errors import Conflict, InvalidInput, NotFound
from shopwise.experiments._model import (
    Experiment,
    ExperimentSpec,
    ExperimentUpdate,
    Status,
    Variant,
    validated,
)
from shopwise.registry import ModelRegistry
from shopwise.store import experiments, insert_once, write_transaction

UPDATE_ATTEMPTS: Final = 3
"""Tries of a change that keeps meeting a concurrent one before it is refused (409)."""


def _now() -> int:
    return int(time.time() * 1000)


WEIGHTS_CHANGED_AT: Final = "weights_changed_at"
"""Kept in the stored document beside the definition: when the weights last changed."""


def _experiment(row: sa.RowMapping) -> Experiment:
    return Experiment.model_validate(
        {
            **row["definition"],
            "status": row["status"],
            "started_at": row["started_at"],
            "stopped_at": row["stopped_at"],
        }
    )


def _spec(document: dict[str, Any]) -> ExperimentSpec:
    """The definition in a stored document (without what is kept beside it)."""
    return ExperimentSpec.model_validate(
        {k: v for k, v in document.items() if k in ExperimentSpec.model_fields}
    )


@dataclass(frozen=True)
class References:
    """What variants may name: the recommender registry and the stored rule and content sets."""

    recommenders: ModelRegistry
    rules: VersionedStore[RuleSet]
    content: VersionedStore[ContentSet]

    def check(self, spec: ExperimentSpec) -> None:
        """Refuse (400, naming the field) a variant that names something not there."""
        versions = set(self.recommenders.versions())
        for index, variant in enumerate(spec.variants):
            field = f"variants.{index}"
            if variant.model_version is not None and variant.model_version not in versions:
                _refuse(f"{field}.model_version", f"no model version {variant.model_version!r}")
            if variant.rules_version is not None and self.rules.get(variant.rules_version) is None:
                _refuse(f"{field}.rules_version", f"no rule-set version {variant.rules_version}")
            self._check_content(spec, variant, field)

    def _check_content(self, spec: ExperimentSpec, variant: Variant, field: str) -> None:
        if variant.content_version is None:
            content = self.content.live().value
        else:
            stored = self.content.get(variant.content_version)
            if stored is None:
                _refuse(
                    f"{field}.content_version",
                    f"no content-set version {variant.content_version}",
                )
            content = stored.value
        banners = {block.name for block in content.blocks if block.kind == "banner"}
        if variant.banner is not None and variant.banner not in banners:
            _refuse(f"{field}.banner", f"no banner block {variant.banner!r} in the content set")
        if variant.layout is not None:
            placements = spec.placements or tuple(content.layouts)
            sections = {s.name for p in placements for s in content.layouts.get(p, ())}
            missing = [name for name in variant.layout if name not in sections]
            if missing:
                _refuse(
                    f"{field}.layout",
                    f"no section {missing[0]!r} in the layouts of the experiment's placements",
                )


def _refuse(field: str, message: str) -> NoReturn:
    raise InvalidInput(
        f"{field}: {message}",
        code="invalid_experiment",
        details=[{"field": field, "message": message}],
    )


class Experiments:
    """Create, read, change, start and stop experiments (see module docstring).

    Parameters
    ----------
    engine
        The store.
    changed
        Called after every change made through this service (the assigner's reload).
    references
        What variants are checked against at create and start; None: not checked (the
        assigner, which only reads).
    """

    def __init__(
        self,
        engine: sa.Engine,
        changed: Callable[[], None] | None = None,
        references: References | None = None,
    ) -> None:
        self._engine = engine
        self._changed = changed
        self._references = references

    @property
    def engine(self) -> sa.Engine:
        """The store the experiments are kept in."""
        return self._engine

    def create(self, spec: ExperimentSpec) -> Experiment:
        """Store ``spec`` as a draft (409 when the id is taken, 400 when a variant names
        something not there)."""
        self._check(spec)
        now = _now()
        row = {
            "id": spec.id,
            "kind": spec.kind,
            "status": "draft",
            "definition": spec.model_dump(mode="json"),
            "created_at": now,
            "updated_at": now,
        }
        with write_transaction(self._engine) as conn:
            statement = insert_once(self._engine, experiments, "id").values(row)
            inserted = conn.execute(statement.returning(experiments.c.id)).first()
        if inserted is None:
            raise Conflict(f"experiment {spec.id!r} already exists")
        self._announce()
        return self.get(spec.id)

    def get(self, experiment_id: str) -> Experiment:
        """The experiment (404 when there is none)."""
        with self._engine.connect() as conn:
            row = (
                conn.execute(sa.select(experiments).where(experiments.c.id == experiment_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no experiment {experiment_id!r}")
        return _experiment(row)

    def list(self, status: Status | None = None) -> Sequence[Experiment]:
        """Every experiment (or those with ``status``), the newest created first."""
        query = sa.select(experiments).order_by(experiments.c.created_at.desc(), experiments.c.id)
        if status is not None:
            query = query.where(experiments.c.status == status)
        with self._engine.connect() as conn:
            return [_experiment(row) for row in conn.execute(query).mappings()]

    def running(self) -> Sequence[Experiment]:
        """The running experiments, the earliest started first (the order assignment tries)."""
        query = (
            sa.select(experiments)
            .where(experiments.c.status == "running")
            .order_by(experiments.c.started_at, experiments.c.id)
        )
        with self._engine.connect() as conn:
            return [_experiment(row) for row in conn.execute(query).mappings()]

    def update(self, experiment_id: str, change: ExperimentUpdate) -> Experiment:
        """Apply ``change`` to a draft or running experiment (409 once stopped).

        The row is written only if it is still the one read (same status and ``updated_at``),
        so a stop or another change in between is never overwritten: the change is tried
        again on the new row, and refused once stopped.
        """
        for _attempt in range(UPDATE_ATTEMPTS):
            with self._engine.connect() as conn:
                row = (
                    conn.execute(sa.select(experiments).where(experiments.c.id == experiment_id))
                    .mappings()
                    .first()
                )
            if row is None:
                raise NotFound(f"no experiment {experiment_id!r}")
            if row["status"] == "stopped":
                raise Conflict(f"experiment {experiment_id!r} is stopped; it can no longer change")
            spec = _changed(_spec(row["definition"]), change)
            now = max(_now(), row["updated_at"] + 1)
            document = {
                **spec.model_dump(mode="json"),
                WEIGHTS_CHANGED_AT: row["definition"].get(WEIGHTS_CHANGED_AT),
            }
            if change.weights is not None:
                document[WEIGHTS_CHANGED_AT] = now
            with write_transaction(self._engine) as conn:
                written = conn.execute(
                    experiments.update()
                    .where(
                        experiments.c.id == experiment_id,
                        experiments.c.status == row["status"],
                        experiments.c.updated_at == row["updated_at"],
                    )
                    .values(definition=document, updated_at=now)
                ).rowcount
            if written:
                self._announce()
                return self.get(experiment_id)
        raise Conflict(f"experiment {experiment_id!r} keeps changing; try again")

    def start(self, experiment_id: str) -> Experiment:
        """Start a draft: from now on it assigns shoppers (409 unless a draft, 400 when a
        variant names something no longer there)."""
        self._check(self.get(experiment_id))
        now = _now()
        return self._move(experiment_id, "draft", "running", started_at=now, updated_at=now)

    def stop(self, experiment_id: str) -> Experiment:
        """Stop a running experiment: nobody is assigned any more (409 unless running)."""
        now = _now()
        return self._move(experiment_id, "running", "stopped", stopped_at=now, updated_at=now)

    def _move(self, experiment_id: str, before: Status, after: Status, **values: Any) -> Experiment:
        with write_transaction(self._engine) as conn:
            moved = conn.execute(
                experiments.update()
                .where(experiments.c.id == experiment_id, experiments.c.status == before)
                .values(status=after, **values)
            ).rowcount
        if not moved:
            current = self.get(experiment_id)  # 404 when there is none
            raise Conflict(
                f"experiment {experiment_id!r} is {current.status}; only a {before} one can be"
                f" {'started' if after == 'running' else 'stopped'}"
            )
        self._announce()
        return self.get(experiment_id)

    def _check(self, spec: ExperimentSpec) -> None:
        if self._references is not None:
            self._references.check(spec)

    def _announce(self) -> None:
        if self._changed is not None:
            self._changed()


def _changed(spec: ExperimentSpec, change: ExperimentUpdate) -> ExperimentSpec:
    """``spec`` with ``change`` applied, validated again as a whole."""
    data = spec.model_dump(mode="json")
    if change.weights is not None:
        names = {variant.name for variant in spec.variants}
        unknown = sorted(set(change.weights) - names)
        if unknown:
            field = f"weights.{unknown[0]}"
            raise InvalidInput(
                f"{field}: no variant {unknown[0]!r} in this experiment",
                code="invalid_experiment",
                details=[{"field": field, "message": "no such variant"}],
            )
        for variant in data["variants"]:
            variant["weight"] = change.weights.get(variant["name"], variant["weight"])
    for name in ("audience", "primary_metric", "guardrails"):
        value = getattr(change, name)
        if value is not None:
            data[name] = value
    return validated(ExperimentSpec, data)
