"""Erasure: a person removed from every table and every model artifact, then searched for.

The rows go in one write transaction (events with the exposures made for the person, identities,
profiles, consent history, scores, memberships, audience-export ledger, experiment assignments,
dead letters naming their ids, outbox messages about them and their delivery log, the journeys'
trigger decisions about them, their precomputed candidate lists), together with the keyed hashes
of their ids on the suppression list; then their hashes leave the KPI sketches. Every saved
version of the model families that keep per-person data is rewritten without them (the training
rows of generators that keep one per user, found through the artifact's ``profile_ids``). The
verification then searches each table, the KPI sketches, each artifact file and the caches it is
given for every id, profile id and email of the person, and reports what it searched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from shopwise.privacy import Suppression
from shopwise.profiles import profile_id_for
from shopwise.recommend import RecommenderArtifact
from shopwise.registry import ModelRegistry
from shopwise.rights._person import Person
from shopwise.schema import Columns
from shopwise.stats import Sketch
from shopwise.store import (
    audience_exports,
    candidate_lists,
    consent_changes,
    customer_scores,
    dead_letters,
    events,
    experiment_assignments,
    identities,
    is_sqlite,
    kpi_buckets,
    outbox_attempts,
    outbox_messages,
    profiles,
    segment_memberships,
    trigger_decisions,
    trigger_wakeups,
    write_transaction,
)

Holds = Callable[[Person], bool]
"""Whether a cache of this process still holds anything of a person."""


def _like(column: sa.ColumnElement[Any], text: str) -> sa.ColumnElement[bool]:
    """``column`` (as text) contains ``text`` quoted as a JSON string."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.cast(column, sa.Text).like(f'%"{escaped}"%', escape="\\")


def unit_ids(person: Person) -> list[str]:
    """The ids serving may have stored the person under as an experiment unit: their profile
    ids, and the id a profile rooted at each of their keys would get (a visitor is assigned
    before their profile exists, and that profile may never be made)."""
    return list(dict.fromkeys([*person.profile_ids, *map(profile_id_for, person.id_keys)]))


def _any(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    return sa.or_(sa.false(), *conditions)


def _rows_of(person: Person) -> list[tuple[str, sa.Table, sa.ColumnElement[bool]]]:
    """Each table that may hold the person, with the condition that finds their rows."""
    users, anons, owned = list(person.user_ids), list(person.anonymous_ids), person.profile_ids
    by_id = _any(events.c[Columns.ANONYMOUS].in_(anons), events.c[Columns.USER].in_(users))
    return [
        ("events", events, by_id),
        (
            "identities",
            identities,
            _any(
                identities.c.id_key.in_(person.id_keys),
                identities.c[Columns.PROFILE].in_(owned),
            ),
        ),
        ("profiles", profiles, profiles.c[Columns.PROFILE].in_(owned)),
        (
            "consent_changes",
            consent_changes,
            _any(
                consent_changes.c[Columns.ANONYMOUS].in_(anons),
                consent_changes.c[Columns.USER].in_(users),
            ),
        ),
        ("customer_scores", customer_scores, customer_scores.c[Columns.PROFILE].in_(owned)),
        (
            "segment_memberships",
            segment_memberships,
            segment_memberships.c[Columns.PROFILE].in_(owned),
        ),
        ("audience_exports", audience_exports, audience_exports.c[Columns.PROFILE].in_(owned)),
        (
            "experiment_assignments",
            experiment_assignments,
            experiment_assignments.c[Columns.PROFILE].in_(unit_ids(person)),
        ),
        ("dead_letters", dead_letters, _any(*(_like(dead_letters.c.raw, i) for i in person.ids))),
        ("outbox_attempts", outbox_attempts, outbox_attempts.c[Columns.PROFILE].in_(owned)),
        ("outbox_messages", outbox_messages, outbox_messages.c[Columns.PROFILE].in_(owned)),
        (
            "trigger_decisions",
            trigger_decisions,
            trigger_decisions.c[Columns.PROFILE].in_(owned),
        ),
        ("candidate_lists", candidate_lists, candidate_lists.c[Columns.PROFILE].in_(owned)),
        ("trigger_wakeups", trigger_wakeups, trigger_wakeups.c[Columns.PROFILE].in_(owned)),
    ]


def _mentions(person: Person) -> list[tuple[str, sa.Table, sa.ColumnElement[bool]]]:
    """Where else the person's emails could be written (other people's rows included): in the
    clear, or sealed (found by the keyed hash the sealed value carries)."""
    texts = [
        ("events.properties", events, events.c[Columns.PROPERTIES]),
        ("profiles.state", profiles, profiles.c.state),
        ("dead_letters.raw", dead_letters, dead_letters.c.raw),
    ]
    return [
        (
            name,
            table,
            _any(
                *(_like(column, email) for email in person.emails),
                *(_contains(column, f":{hashed}") for hashed in person.email_hashes),
            ),
        )
        for name, table, column in texts
    ]


def _contains(column: sa.ColumnElement[Any], text: str) -> sa.ColumnElement[bool]:
    return sa.cast(column, sa.Text).contains(text, autoescape=True)


def erase_rows(
    engine: sa.Engine, person: Person, suppression: Suppression, request_id: str
) -> dict[str, int]:
    """Delete the person's rows and suppress their ids, in one transaction; rows per table.

    On SQLite the freed space is overwritten (``secure_delete`` for these deletes) and the
    write-ahead log is checkpointed, so the erased rows are not left readable in the file.
    PostgreSQL reclaims deleted rows at its next vacuum.
    """
    removed: dict[str, int] = {}
    sqlite = is_sqlite(engine)
    suppressed = suppression.rows(person.id_keys, request_id)  # hashed before the write lock
    with write_transaction(engine) as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        try:
            for name, table, condition in _rows_of(person):
                removed[name] = conn.execute(table.delete().where(condition)).rowcount or 0
            removed["suppressed_ids"] = suppression.add(conn, suppressed)
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA secure_delete = OFF")
    if sqlite:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return removed


def scrub_sketches(engine: sa.Engine, person: Person) -> int:
    """Take the person's hashes out of the KPI sketches that keep hashes (their profile ids out
    of the visitor sketches, their order ids out of the order sketches); the rows changed.

    Run after :func:`erase_rows`, so a KPI run that recomputes a bucket meanwhile no longer
    reads the person's events; the verification looks again."""
    members = _sketch_members(person)
    changed: list[tuple[dict[str, Any], dict[str, bytes]]] = []
    with engine.connect() as conn:
        for key, sketches in _sketch_rows(conn, members):
            scrubbed = {
                column: sketch.to_bytes()
                for column, sketch in sketches.items()
                if sketch.discard(members[column])
            }
            if scrubbed:
                changed.append((key, scrubbed))
    if changed:
        with write_transaction(engine) as conn:
            for key, values in changed:
                match = [kpi_buckets.c[name] == value for name, value in key.items()]
                conn.execute(kpi_buckets.update().where(*match).values(**values))
    return len(changed)


def _sketch_members(person: Person) -> dict[str, list[str]]:
    """The person's members of each sketch column that may keep them."""
    return {"visitor_sketch": unit_ids(person), "order_sketch": list(person.order_ids)}


def _sketch_rows(
    conn: sa.Connection, members: dict[str, list[str]]
) -> Iterator[tuple[dict[str, Any], dict[str, Sketch]]]:
    """Each KPI row that keeps sketches: its key, and its sketches of the ``members`` columns."""
    keys = [column.name for column in kpi_buckets.primary_key.columns]
    columns = [kpi_buckets.c[name] for name in (*keys, *members)]
    query = sa.select(*columns).where(kpi_buckets.c.visitor_sketch.is_not(None))
    for row in conn.execute(query).mappings():
        sketches = {name: Sketch.from_bytes(row[name]) for name in members if row[name]}
        yield {name: row[name] for name in keys}, sketches


def _in_sketches(conn: sa.Connection, person: Person) -> int:
    """The KPI rows whose sketches still keep a hash of the person."""
    members = _sketch_members(person)
    return sum(
        any(any(sketch.holds(m) for m in members[column]) for column, sketch in found.items())
        for _key, found in _sketch_rows(conn, members)
    )


def scrub_artifacts(
    registries: Sequence[ModelRegistry], profile_ids: Iterable[str]
) -> tuple[dict[str, int], list[str]]:
    """Rewrite every saved version that holds the profiles without them.

    Returns the rows or lists removed per family, and the versions of artifacts that keep rows
    per user but no map from rows to profiles (trained before the map was kept): those forget
    the person only when retrained.
    """
    owned = set(profile_ids)
    removed: dict[str, int] = {}
    unmapped: list[str] = []
    for registry in registries:
        family = registry.root.name
        for version in registry.versions():
            artifact = registry.load(version)
            count = forget(artifact, owned)
            if count:
                registry.rewrite(version, artifact)
                removed[family] = removed.get(family, 0) + count
            elif isinstance(artifact, RecommenderArtifact) and not artifact.profile_ids:
                unmapped.append(f"{family}/{version}")
    return removed, unmapped


def forget(artifact: object, profiles: set[str]) -> int:
    """Remove ``profiles`` from a loaded artifact in place; how many rows or lists went."""
    if isinstance(artifact, RecommenderArtifact):
        return artifact.forget(profiles)
    return 0


@dataclass
class Verification:
    """What a search for an erased person looked at, and where it still found them."""

    searched: list[str] = field(default_factory=list)
    found: dict[str, int] = field(default_factory=dict)
    at: int = field(default_factory=lambda: int(time.time() * 1000))

    @property
    def clean(self) -> bool:
        return not self.found

    def public(self) -> dict[str, Any]:
        return {"searched": self.searched, "found": self.found, "verified_at": self.at}


def verify(
    engine: sa.Engine,
    person: Person,
    registries: Sequence[ModelRegistry],
    caches: dict[str, Holds],
) -> Verification:
    """Search every table, artifact and cache for the person (see module docstring)."""
    result = Verification()
    with engine.connect() as conn:
        for name, table, condition in _rows_of(person) + _mentions(person):
            count = conn.execute(sa.select(sa.func.count()).select_from(table).where(condition))
            result.searched.append(name)
            found = int(count.scalar_one())
            if found:
                result.found[name] = found
        result.searched.append("kpi_buckets sketches")
        in_sketches = _in_sketches(conn, person)
        if in_sketches:
            result.found["kpi_buckets sketches"] = in_sketches
    needles = _pickled(person)
    for registry in registries:
        for version in registry.versions():
            name = f"artifact {registry.root.name}/{version}"
            result.searched.append(name)
            data = registry.artifact_bytes(version)
            hits = sum(needle in data for needle in needles)
            if hits:
                result.found[name] = hits
    for name, holds in caches.items():
        result.searched.append(name)
        if holds(person):
            result.found[name] = 1
    return result


def _pickled(person: Person) -> list[bytes]:
    """The person's ids, profile ids and emails as pickle writes a string (its opcode and
    length first), so a search of an artifact file matches whole strings only."""
    needles = []
    for text in (*person.ids, *person.profile_ids, *person.emails):
        raw = text.encode()
        if len(raw) < 256:
            needles.append(b"\x8c" + bytes([len(raw)]) + raw)
        else:
            needles.append(raw)
    return needles
