"""Each shopper's precomputed list, kept in the store and read one shopper at a time.

The worker's candidate refresh writes one row per (recommender version, canonical profile) in
:data:`~shopwise.store.candidate_lists`; serving reads the row of the shopper it answers. No
process holds every shopper's list, so an API or worker process does not grow with the number
of shoppers, and every API process reads the same lists.

The rows are personal. Erasure deletes a person's rows with their other rows
(:mod:`shopwise.rights`). A write keeps only the profiles still stored and canonical, read
share-locked in the writing transaction, so an erasure or a merge in flight is waited for and a
list is never written back for a person just erased.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from shopwise.store import PointRead, candidate_lists, profiles, write_transaction

Ranked = tuple[list[str], list[float]]
"""Product ids best first, and their scores."""

_SCORES = np.dtype("<f4")


@dataclass(frozen=True, slots=True)
class StoredList:
    """One shopper's precomputed list."""

    items: list[str]
    scores: list[float]
    computed_at: int
    """When the worker wrote it (epoch ms)."""


class CandidateLists:
    """The precomputed lists in the store (see module docstring)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        table = candidate_lists.c
        self._read = PointRead(
            engine,
            sa.select(table["items"], table.scores, table.computed_at).where(
                table.model_version == sa.bindparam("model_version"),
                table.profile_id == sa.bindparam("profile_id"),
            ),
        )

    def get(self, model_version: str, profile_id: str) -> StoredList | None:
        """The list of ``profile_id`` made with ``model_version``, or ``None``."""
        rows = self._read.rows({"model_version": model_version, "profile_id": profile_id})
        return _decoded(rows[0]) if rows else None

    def write(self, model_version: str, lists: Mapping[str, Ranked], computed_at: int) -> int:
        """Replace the rows of the profiles in ``lists`` that are still stored and canonical;
        how many were written."""
        if not lists:
            return 0
        with write_transaction(self._engine) as conn:
            live = _still_canonical(conn, lists)
            conn.execute(_where(candidate_lists.delete(), model_version, live))
            if live:
                conn.execute(
                    candidate_lists.insert(),
                    [_row(model_version, p, lists[p], computed_at) for p in sorted(live)],
                )
        return len(live)

    def drop(self, model_version: str, profile_ids: Collection[str]) -> int:
        """Delete the rows of ``profile_ids`` made with ``model_version``; how many went."""
        if not profile_ids:
            return 0
        with write_transaction(self._engine) as conn:
            return _count(
                conn.execute(_where(candidate_lists.delete(), model_version, profile_ids))
            )

    def drop_stale(self, model_version: str, before: int) -> int:
        """Delete the rows of ``model_version`` written before ``before`` (epoch ms): a full
        pass rewrites every list it keeps, so what it did not write is gone."""
        condition = sa.and_(
            candidate_lists.c.model_version == model_version,
            candidate_lists.c.computed_at < before,
        )
        with write_transaction(self._engine) as conn:
            return _count(conn.execute(candidate_lists.delete().where(condition)))

    def drop_gone(self, model_version: str) -> int:
        """Delete the rows of ``model_version`` whose profile is no longer canonical (merged
        into another, or erased)."""
        canonical = sa.exists().where(
            profiles.c.profile_id == candidate_lists.c.profile_id,
            profiles.c.merged_into.is_(None),
        )
        condition = sa.and_(candidate_lists.c.model_version == model_version, ~canonical)
        with write_transaction(self._engine) as conn:
            return _count(conn.execute(candidate_lists.delete().where(condition)))

    def keep_versions(self, model_versions: Iterable[str]) -> int:
        """Delete the rows of every recommender version not in ``model_versions``."""
        kept = sorted(set(model_versions))
        condition = candidate_lists.c.model_version.not_in(kept)
        with write_transaction(self._engine) as conn:
            return _count(conn.execute(candidate_lists.delete().where(condition)))

    def count(self, model_version: str) -> int:
        query = sa.select(sa.func.count()).where(candidate_lists.c.model_version == model_version)
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def read_all(self, model_version: str) -> dict[str, StoredList]:
        """Every list made with ``model_version``, by profile (comparisons, tests)."""
        table = candidate_lists.c
        query = sa.select(table.profile_id, table["items"], table.scores, table.computed_at).where(
            table.model_version == model_version
        )
        with self._engine.connect() as conn:
            return {row[0]: _decoded(tuple(row)[1:]) for row in conn.execute(query)}


def _still_canonical(conn: sa.Connection, profile_ids: Iterable[str]) -> set[str]:
    """Which of ``profile_ids`` are stored and canonical, share-locked where the engine has row
    locks so that an erasure or merge in flight is waited for (SQLite's write transaction
    already excludes it)."""
    query = (
        sa.select(profiles.c.profile_id)
        .where(profiles.c.profile_id.in_(list(profile_ids)), profiles.c.merged_into.is_(None))
        .with_for_update(read=True)
    )
    return set(conn.execute(query).scalars())


def _where(statement: sa.Delete, model_version: str, profile_ids: Iterable[str]) -> sa.Delete:
    return statement.where(
        candidate_lists.c.model_version == model_version,
        candidate_lists.c.profile_id.in_(list(profile_ids)),
    )


def _row(model_version: str, profile_id: str, ranked: Ranked, computed_at: int) -> dict[str, Any]:
    items, scores = ranked
    return {
        "model_version": model_version,
        "profile_id": profile_id,
        "items": items,
        "scores": np.asarray(scores, dtype=_SCORES).tobytes(),
        "computed_at": computed_at,
    }


def _decoded(row: tuple[Any, ...]) -> StoredList:
    items, scores, computed_at = row
    return StoredList(list(items), np.frombuffer(scores, dtype=_SCORES).tolist(), int(computed_at))


def _count(result: sa.CursorResult[Any]) -> int:
    return int(result.rowcount or 0)
