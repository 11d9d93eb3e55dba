"""Which variant a shopper sees: deterministic, sticky assignment off the request path.

:class:`ExperimentAssigner` is serving's :class:`~shopwise.serving.Assigner`. It holds the
running experiments in memory and tries them in the order they started; the first whose
placements contain the placement and whose audience admits the shopper decides. The unit is the
canonical profile id, hashed with the experiment's salt into [0, 1): below the holdout share the
shopper is held out (the popularity baseline), the rest of the interval is cut by the weights.

Sticky: a shopper's first variant is written to ``experiment_assignments`` by a background thread
in batches (a request never writes), so a later weight change moves nobody already assigned. The
hash gives every unit its variant again in every process, so memory holds only what the hash
would now get wrong: the stored (or pending) assignments that differ from the variant under the
current weights, which exist only after a weight change and are loaded in full when a process
first sees the experiment or sees its split change; plus the units assigned here lately (at most
:data:`RECENT_UNITS`, each until it goes unused for :data:`shopwise.recent.IDLE_SECONDS`), so a
shopper's repeated requests do not queue the same row again (one that has dropped out is queued
again, and the store keeps the first). Another process's assignments arrive with the next
refresh, and where two processes disagree (a weight change between their first answers) the
stored one wins. A bandit's arm is drawn per request by ``draw`` (Thompson sampling, learning
from the answers) and is not stored; its holdout is hashed like any other.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import sqlalchemy as sa

from shopwise.experiments._model import HOLDOUT, Experiment
from shopwise.experiments._service import Experiments
from shopwise.periodic import Periodic
from shopwise.recent import Recent
from shopwise.schema import Columns
from shopwise.serving import Treatment
from shopwise.store import experiment_assignments, insert_once, write_transaction

log = logging.getLogger("shopwise.experiments")

Segments = Callable[[str], tuple[str, ...]]
"""The segment and audience names of a canonical profile id."""
Draw = Callable[[Experiment], str]
"""A bandit's arm (a variant name) for one request."""

OVERLAP_MS: Final = 60_000
"""How far back each refresh reads assignments again, so rows written by another process with a
slightly slower clock, or committed late, are not missed."""
RECENT_UNITS: Final = 20_000
"""Most units assigned here that are remembered so their next requests queue no row."""
Split = tuple[str, float, tuple[tuple[str, float], ...]]
"""What decides a unit's hashed variant: salt, holdout share, and each variant's weight."""


def bucket(salt: str, unit: str) -> float:
    """The unit's place in [0, 1) for an experiment salted with ``salt``: the same in every
    process and version (a keyed hash, not Python's ``hash``)."""
    digest = hashlib.blake2b(f"{salt}\x00{unit}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def hashed_variant(experiment: Experiment, unit: str) -> str:
    """The variant the hash gives ``unit``: the holdout share first, then the weights over the
    rest of [0, 1)."""
    place = bucket(experiment.salt, unit)
    if place < experiment.holdout:
        return HOLDOUT
    total = sum(variant.weight for variant in experiment.variants)
    point = (place - experiment.holdout) / (1.0 - experiment.holdout) * total
    reached = 0.0
    for variant in experiment.variants:
        reached += variant.weight
        if point < reached:
            return variant.name
    return experiment.variants[-1].name  # rounding at the very top of the interval


def split_of(experiment: Experiment) -> Split:
    """The parts of ``experiment`` that :func:`hashed_variant` reads."""
    weights = tuple((variant.name, variant.weight) for variant in experiment.variants)
    return experiment.salt, experiment.holdout, weights


@dataclass
class _State:
    """What the assigner holds; replaced as a whole by a reload, changed under the lock."""

    running: tuple[Experiment, ...] = ()
    splits: dict[str, Split] = field(default_factory=dict)
    """Experiment id -> the split its ``overrides`` were computed against (a/b experiments)."""
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    """Experiment id -> profile id -> variant, where it differs from the hashed one."""
    loaded_at: int | None = None
    """Assignments written before this time (less :data:`OVERLAP_MS`) are loaded."""


class ExperimentAssigner:
    """Serving's assigner over the stored experiments (see module docstring).

    Parameters
    ----------
    engine
        The store.
    segments
        The shopper's segment names, asked only for experiments with an audience.
    draw
        A bandit experiment's arm for one request.
    refresh_seconds
        How often running experiments and other processes' assignments are reloaded.
    flush_seconds
        How often new assignments are written.
    recent_units
        How many recently assigned units are remembered so that they queue no row again.
    """

    def __init__(
        self,
        engine: sa.Engine,
        segments: Segments,
        draw: Draw,
        refresh_seconds: float = 5.0,
        flush_seconds: float = 1.0,
        recent_units: int = RECENT_UNITS,
    ) -> None:
        self._engine = engine
        self._experiments = Experiments(engine)
        self._segments = segments
        self._draw = draw
        self._state = _State()
        self._pending: list[dict[str, object]] = []
        self._recent: Recent[tuple[str, str], bool] = Recent(recent_units)
        self._lock = threading.Lock()
        self._reloading = threading.Lock()
        self._refresh_seconds = refresh_seconds
        self._last_refresh = -float("inf")
        self._thread = Periodic("experiment-assignments", flush_seconds, self._tick)

    # -- the request path -----------------------------------------------------------------------

    def __call__(self, placement: str, profile_id: str) -> Treatment | None:
        """The shopper's treatment at ``placement``; None outside every running experiment."""
        state = self._state
        for experiment in state.running:
            if experiment.placements and placement not in experiment.placements:
                continue
            if experiment.audience and not set(experiment.audience) & set(
                self._segments(profile_id)
            ):
                continue
            return experiment.treatment(self._variant(experiment, profile_id))
        return None

    def _variant(self, experiment: Experiment, unit: str) -> str:
        if experiment.kind == "bandit":
            hashed = hashed_variant(experiment, unit)
            return hashed if hashed == HOLDOUT else self._draw(experiment)
        key = (experiment.id, unit)
        with self._lock:
            # the current state, not the one the request began with: a refresh may have swapped
            state = self._state
            kept = state.overrides.get(experiment.id, {}).get(unit)
            if kept is not None:
                return kept
            hashed = hashed_variant(_current(state, experiment), unit)
            if self._recent.get(key):
                return hashed
            self._recent.put(key, True)
            self._pending.append(
                {
                    "experiment": experiment.id,
                    Columns.PROFILE: unit,
                    "variant": hashed,
                    "assigned_at": _now(),
                }
            )
        return hashed

    # -- background -----------------------------------------------------------------------------

    def start(self) -> None:
        """Load the running experiments, then refresh and flush in the background."""
        self._guarded(self.refresh)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is still pending."""
        self._thread.stop()
        self._guarded(self.flush)

    def reload(self) -> None:
        """Refresh now (a change was made in this process); a store error is logged and the
        background refresh tries again."""
        self._guarded(self.refresh)

    def _tick(self) -> None:
        self._guarded(self.flush)
        if time.monotonic() - self._last_refresh >= self._refresh_seconds:
            self._guarded(self.refresh)

    def _guarded(self, step: Callable[[], object]) -> None:
        # boundary: a store that is down or not migrated yet must not end the thread; the
        # assignments stay pending and the experiments as they were until the next tick
        try:
            step()
        except sa.exc.SQLAlchemyError:
            log.warning("experiment assignments: store unavailable, retrying", exc_info=True)

    def flush(self) -> int:
        """Write the pending assignments in one statement; how many were new to the store.

        Not while a refresh runs: a refresh that recomputes the overrides must find each row
        either pending or stored, not in between.
        """
        with self._reloading:
            with self._lock:
                rows, self._pending = self._pending, []
            if not rows:
                return 0
            try:
                return _insert(self._engine, rows)
            except BaseException:
                with self._lock:
                    self._pending = rows + self._pending
                raise

    def refresh(self) -> None:
        """Reload the running experiments, and the assignments stored since the last refresh
        (all of them for an experiment seen for the first time or whose split changed)."""
        with self._reloading:
            self._last_refresh = time.monotonic()
            state = self._state
            started = _now()
            running = self._experiments.running()
            splits = {e.id: split_of(e) for e in running if e.kind == "ab"}
            fresh = [i for i, split in splits.items() if state.splits.get(i) != split]
            known = [i for i in splits if i not in fresh]
            stored = _assignments(self._engine, fresh, known, state.loaded_at)
            with self._lock:
                # requests may have added overrides or pending rows since ``state`` was read
                kept = self._state.overrides
                overrides = {i: {} if i in fresh else dict(kept.get(i, {})) for i in splits}
                pending = [
                    (str(row["experiment"]), str(row[Columns.PROFILE]), str(row["variant"]))
                    for row in self._pending
                    if row["experiment"] in fresh
                ]
                by_id = {e.id: e for e in running}
                for experiment_id, unit, variant in [*pending, *stored]:  # the stored one wins
                    _override(overrides[experiment_id], by_id[experiment_id], unit, variant)
                self._state = _State(tuple(running), splits, overrides, started)

    # -- erasure --------------------------------------------------------------------------------

    def forget(self, profile_ids: Iterable[str]) -> None:
        """Drop the assignments of ``profile_ids`` held or pending here (an erasure runs).

        Called before the person's rows are deleted, so a flush cannot write them back
        afterwards; everyone else's assignments, pending ones included, stay as they are.
        """
        gone = set(profile_ids)
        with self._lock:
            self._pending = [row for row in self._pending if row[Columns.PROFILE] not in gone]
            for units in self._state.overrides.values():
                for unit in gone & units.keys():
                    del units[unit]
            for key in [key for key in self._recent.kept() if key[1] in gone]:
                self._recent.pop(key)

    def holds(self, profile_ids: Iterable[str]) -> bool:
        """Whether any of ``profile_ids`` has an assignment held or pending here."""
        wanted = set(profile_ids)
        with self._lock:
            if any(row[Columns.PROFILE] in wanted for row in self._pending):
                return True
            if any(unit in wanted for _experiment, unit in self._recent.kept()):
                return True
            return any(wanted & units.keys() for units in self._state.overrides.values())


def _current(state: _State, experiment: Experiment) -> Experiment:
    """``experiment`` as ``state`` runs it (a refresh may have changed its weights since the
    request read it)."""
    return next((e for e in state.running if e.id == experiment.id), experiment)


def _override(overrides: dict[str, str], experiment: Experiment, unit: str, variant: str) -> None:
    """Hold ``unit``'s stored ``variant`` when the hash under ``experiment``'s split now gives
    another one; drop a held one the hash gives again."""
    if hashed_variant(experiment, unit) == variant:
        overrides.pop(unit, None)
    else:
        overrides[unit] = variant


def _insert(engine: sa.Engine, rows: list[dict[str, object]]) -> int:
    """Store ``rows`` (the first assignment of a unit wins); how many were new."""
    with write_transaction(engine) as conn:
        statement = insert_once(
            engine, experiment_assignments, "experiment", Columns.PROFILE
        ).returning(experiment_assignments.c.experiment)
        return len(conn.execute(statement, rows).all())


def _now() -> int:
    return int(time.time() * 1000)


def _assignments(
    engine: sa.Engine, fresh: Sequence[str], known: Sequence[str], since: int | None
) -> list[tuple[str, str, str]]:
    """Stored (experiment, profile, variant): every row of the ``fresh`` experiments, and the
    rows of the ``known`` ones written since the last load."""
    table = experiment_assignments
    columns = (table.c.experiment, table.c[Columns.PROFILE], table.c.variant)
    conditions: list[sa.ColumnElement[bool]] = []
    if fresh:
        conditions.append(table.c.experiment.in_(fresh))
    if known:
        recent: sa.ColumnElement[bool] = (
            sa.true() if since is None else table.c.assigned_at >= since - OVERLAP_MS
        )
        conditions.append(sa.and_(table.c.experiment.in_(known), recent))
    if not conditions:
        return []
    query = sa.select(*columns).where(sa.or_(*conditions))
    with engine.connect() as conn:
        return [(row[0], row[1], row[2]) for row in conn.execute(query)]
