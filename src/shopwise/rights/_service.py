"""Data subject requests: export and erasure, as requests with a status.

An export answers at once with the whole document (:func:`export_person`). An erasure is a
request: ``pending`` when made, ``running`` while a runner erases the person from every table and
artifact (:mod:`._erasure`), ``completed`` when done, then ``verified`` once a search of every
store, artifact and cache of this process finds nothing (or ``failed``, naming what was found).
Any process may run pending requests (the API right after answering, the worker's job, the CLI);
every process watches for completed erasures and clears its own caches and the in-memory champions
within a poll interval, so an erasure reaches every server. Requests name the person only by the
canonical profile id; the audit log records who asked.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa

from shopwise.audit import AuditLog
from shopwise.errors import NotFound
from shopwise.periodic import Periodic
from shopwise.privacy import PiiCipher, Suppression
from shopwise.profiles import Profiles
from shopwise.registry import Champion, ModelRegistry
from shopwise.rights._erasure import (
    Holds,
    erase_rows,
    forget,
    scrub_artifacts,
    scrub_sketches,
    unit_ids,
    verify,
)
from shopwise.rights._export import export_person
from shopwise.rights._person import Person, find_person
from shopwise.schema import Columns
from shopwise.store import privacy_requests, write_transaction

log = logging.getLogger("shopwise.rights")

PENDING: Final = "pending"
RUNNING: Final = "running"
COMPLETED: Final = "completed"
VERIFIED: Final = "verified"
FAILED: Final = "failed"
ERASE: Final = "erase"
EXPORT: Final = "export"
STALE_RUN_MS: Final = 10 * 60 * 1000
"""A request ``running`` longer than this was left by a process that stopped: run it again."""


def _now() -> int:
    return int(time.time() * 1000)


@dataclass
class _Caches:
    """What this process must clear after an erasure, and how to tell if a cache still holds
    a person (for the verification)."""

    clear: list[Callable[[], None]] = field(default_factory=list)
    holds: dict[str, Holds] = field(default_factory=dict)
    forget: list[Callable[[Sequence[str]], None]] = field(default_factory=list)
    """Drop one person's entries, given their ids (before their rows go, and after)."""


class SubjectRights:
    """Exports and erasures over one store (see module docstring)."""

    def __init__(
        self,
        engine: sa.Engine,
        people: Profiles,
        cipher: PiiCipher,
        suppression: Suppression,
        audit: AuditLog,
        registries: Sequence[ModelRegistry],
        champions: Sequence[Champion[Any]],
        poll_seconds: float = 2.0,
    ) -> None:
        self._engine = engine
        self._people = people
        self._cipher = cipher
        self._suppression = suppression
        self._audit = audit
        self._registries = registries
        self._champions = champions
        self._caches = _Caches()
        self._running = threading.Lock()
        self._seen = _now()
        self._suppression_loaded = False
        self._watcher = Periodic("erasure-watch", poll_seconds, self._watch)

    def add_cache(
        self,
        name: str,
        clear: Callable[[], None] | None = None,
        holds: Holds | None = None,
        forget: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        """Register a cache of this process that an erasure must clear (and may search).

        A cache that may write the person back to the store (pending writes) gives ``forget``
        instead of ``clear``: it is told the person's ids before their rows are deleted.
        """
        if clear is not None:
            self._caches.clear.append(clear)
        if forget is not None:
            self._caches.forget.append(forget)
        if holds is not None:
            self._caches.holds[name] = holds

    # -- requests -------------------------------------------------------------------------------

    def export(self, any_id: str, actor: str) -> dict[str, Any]:
        """Everything held about the person behind ``any_id`` (404 when unknown)."""
        person = self._person(any_id)
        document = self._cipher.open_json(export_person(self._engine, self._people, person))
        request_id = self._insert(EXPORT, person.profile_id, actor, COMPLETED, {})
        self._audit.record(actor, "privacy.export", person.profile_id, {"request": request_id})
        return {"request_id": request_id, **document}

    def request_erasure(self, any_id: str, actor: str) -> dict[str, Any]:
        """Record a pending erasure of the person behind ``any_id`` (404 when unknown)."""
        person = self._person(any_id)
        details = {"ids": len(person.ids), "profiles": len(person.profile_ids)}
        request_id = self._insert(ERASE, person.profile_id, actor, PENDING, details)
        self._audit.record(actor, "privacy.erase", person.profile_id, {"request": request_id})
        found = self.request(request_id)
        assert found is not None
        return found

    def request(self, request_id: str) -> dict[str, Any] | None:
        """A request's kind, status and details; ``None`` when there is no such request."""
        query = sa.select(privacy_requests).where(privacy_requests.c.id == request_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _public(row)

    def _person(self, any_id: str) -> Person:
        person = find_person(self._engine, self._people, self._cipher, any_id)
        if person is None:
            raise NotFound(f"no profile for id {any_id!r}")
        return person

    def _insert(
        self, kind: str, profile: str, actor: str, status: str, details: dict[str, Any]
    ) -> str:
        request_id = uuid.uuid4().hex[:16]
        now = _now()
        with write_transaction(self._engine) as conn:
            conn.execute(
                privacy_requests.insert().values(
                    id=request_id,
                    kind=kind,
                    profile_id=profile,
                    status=status,
                    requested_by=actor,
                    requested_at=now,
                    updated_at=now,
                    details=details,
                )
            )
        return request_id

    # -- running erasures -----------------------------------------------------------------------

    def run_pending(self) -> list[dict[str, Any]]:
        """Run every pending erasure (and any left running by a stopped process) as one batch:
        rows first, then the artifacts once for all, then the caches; then verify each."""
        with self._running:
            claimed = self._claim()
            if not claimed:
                return []
            done: dict[str, tuple[Person | None, dict[str, Any]]] = {}
            for request_id, profile in claimed:
                person = find_person(self._engine, self._people, self._cipher, profile)
                removed = {}
                if person is not None:
                    self._forget(unit_ids(person))
                    removed = erase_rows(self._engine, person, self._suppression, request_id)
                    removed["kpi_sketches"] = scrub_sketches(self._engine, person)
                done[request_id] = (person, {"removed": removed})
            owned = [p for person, _ in done.values() if person for p in person.profile_ids]
            scrubbed, unmapped = scrub_artifacts(self._registries, owned)
            self._purge(owned)
            for request_id, (person, details) in done.items():
                details.update(artifacts=scrubbed, unmapped_artifacts=unmapped)
                self._update(request_id, COMPLETED, details)
                if not self._verify(request_id, person, details) and person is not None:
                    # an event in flight during the erasure (another process): once more
                    details["removed_again"] = self._erase_again(request_id, person)
                    self._verify(request_id, person, details)
            return [r for r in (self.request(i) for i in done) if r is not None]

    def _erase_again(self, request_id: str, person: Person) -> dict[str, int]:
        self._forget(unit_ids(person))
        removed = erase_rows(self._engine, person, self._suppression, request_id)
        removed["kpi_sketches"] = scrub_sketches(self._engine, person)
        scrub_artifacts(self._registries, person.profile_ids)
        self._purge(person.profile_ids)
        return removed

    def _claim(self) -> list[tuple[str, str]]:
        """Mark pending (and stale running) erasures running; their ids and profiles."""
        now = _now()
        stale = now - STALE_RUN_MS
        waiting = sa.or_(
            privacy_requests.c.status == PENDING,
            sa.and_(privacy_requests.c.status == RUNNING, privacy_requests.c.updated_at < stale),
        )
        query = sa.select(privacy_requests.c.id, privacy_requests.c[Columns.PROFILE]).where(
            privacy_requests.c.kind == ERASE, waiting
        )
        with write_transaction(self._engine) as conn:
            claimed = [(row.id, row.profile_id) for row in conn.execute(query)]
            if claimed:
                conn.execute(
                    privacy_requests.update()
                    .where(privacy_requests.c.id.in_([i for i, _ in claimed]))
                    .values(status=RUNNING, updated_at=now)
                )
        return claimed

    def _verify(self, request_id: str, person: Person | None, details: dict[str, Any]) -> bool:
        """Search for the person and record the outcome; whether nothing was found."""
        if person is None:
            details["verification"] = {"note": "the profile was gone before this run"}
            self._update(request_id, VERIFIED, details)
            return True
        found = verify(self._engine, person, self._registries, self._caches.holds)
        details["verification"] = found.public()
        if found.clean:
            self._update(request_id, VERIFIED, details)
            return True
        log.error("erasure verification found the person", extra={"request": request_id})
        self._update(request_id, FAILED, details)
        return False

    def _update(self, request_id: str, status: str, details: dict[str, Any]) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(
                privacy_requests.update()
                .where(privacy_requests.c.id == request_id)
                .values(status=status, updated_at=_now(), details=details)
            )

    # -- this process's memory ------------------------------------------------------------------

    def _purge(self, profile_ids: Sequence[str]) -> None:
        """Clear this process's caches, remove the profiles from the in-memory champions and
        reload the suppression list."""
        owned = set(profile_ids)
        for champion in self._champions:
            value = champion.get()
            if value is not None:
                forget(value, owned)
        for clear in self._caches.clear:
            clear()
        self._forget(profile_ids)
        self._suppression.reload()

    def _forget(self, ids: Sequence[str]) -> None:
        for forget_person in self._caches.forget:
            forget_person(ids)

    def start(self) -> None:
        """Load the suppression list and watch for erasures completed by other processes.

        A store not migrated yet (``/readyz`` says so) is watched all the same: the list is
        loaded once the tables exist.
        """
        self._load_suppression()
        self._watcher.start()

    def stop(self) -> None:
        self._watcher.stop()

    def _load_suppression(self) -> None:
        try:
            self._suppression.reload()
            self._suppression_loaded = True
        except sa.exc.SQLAlchemyError:  # boundary: an unmigrated or unreachable store
            log.warning("suppression list not loaded yet; retrying")

    def _watch(self) -> None:
        try:
            if not self._suppression_loaded:
                self._load_suppression()
            self.catch_up()
        except Exception:  # boundary: a store hiccup must not end the watch
            log.exception("erasure watch failed; retrying")

    def catch_up(self) -> int:
        """Purge this process's memory of erasures completed since the last look."""
        query = sa.select(privacy_requests.c[Columns.PROFILE], privacy_requests.c.updated_at).where(
            privacy_requests.c.kind == ERASE,
            privacy_requests.c.status.in_([COMPLETED, VERIFIED, FAILED]),
            privacy_requests.c.updated_at > self._seen,
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return 0
        self._seen = max(row.updated_at for row in rows)
        self._purge([row.profile_id for row in rows if row.profile_id])
        return len(rows)


def _public(row: Any) -> dict[str, Any]:
    return {
        "request_id": row["id"],
        "kind": row["kind"],
        "profile_id": row[Columns.PROFILE],
        "status": row["status"],
        "requested_at": row["requested_at"],
        "updated_at": row["updated_at"],
        "details": row["details"],
    }
