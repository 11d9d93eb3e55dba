"""The stored customer scores, segment memberships and segment-size history.

:meth:`ScoreStore.refresh` scores every profile with the champions (:func:`score_profiles`) and
replaces the rows of ``customer_scores`` and ``segment_memberships``, appending the segment sizes to
``segment_sizes``; scores are kept only for profiles that allow ``personalization`` and
memberships only for those that allow ``marketing``. Reads go by any linked id and check the
profile's consent again on every read, so a withdrawal takes effect before the next refresh
removes the rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any, Final

import pandas as pd
import sqlalchemy as sa

from shopwise.customers._artifacts import AUDIENCE, SEGMENT, score_family, size_rows
from shopwise.customers._champions import CustomerModels
from shopwise.customers._scoring import score_profiles
from shopwise.features import StoreFrames
from shopwise.logs import Progress, quiet
from shopwise.privacy import ConsentPolicy, profile_consent
from shopwise.profiles import Profiles
from shopwise.schema import Columns, Purpose
from shopwise.store import customer_scores, segment_memberships, segment_sizes, write_transaction

INSERT_ROWS: Final = 5000
"""Score or membership rows built and inserted at a time."""


def _ms(stamp: pd.Timestamp) -> int:
    return round(stamp.timestamp() * 1000)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


class ScoreStore:
    """Writes and reads the stored customer scores of one store (see module docstring)."""

    def __init__(
        self, engine: sa.Engine, profiles: Profiles, models: CustomerModels, policy: ConsentPolicy
    ) -> None:
        self.engine = engine
        self.profiles = profiles
        self.models = models
        self.policy = policy

    def refresh(
        self,
        frames: StoreFrames,
        progress: Progress = quiet,
        *,
        only: Collection[str] | None = None,
    ) -> dict[str, Any]:
        """Score profiles with the champions and store the results.

        Parameters
        ----------
        frames
            The consented frames of the store.
        progress
            Progress reporter.
        only
            Canonical profile ids to rewrite; all profiles (and a segment-size snapshot) when
            ``None``. Features are always computed on the whole population, since quintile scores
            and segment scaling depend on it.

        Returns
        -------
        dict
            Counts of stored scores and memberships, ``as_of`` and the model versions used.
        """
        progress("scoring profiles")
        scores, members = score_profiles(self.models, frames)
        as_of: pd.Timestamp = scores.attrs["as_of"]
        versions: dict[str, str] = scores.attrs["versions"]
        personalized = self.policy.allowed_profiles(self.engine, Purpose.PERSONALIZATION)
        marketed = self.policy.allowed_profiles(self.engine, Purpose.MARKETING)
        long = scores.rename_axis(Columns.PROFILE).reset_index()
        long = long.melt(id_vars=Columns.PROFILE, var_name="name", value_name="value").dropna()
        long = long.loc[long[Columns.PROFILE].map(personalized).astype(bool)]
        members = members.loc[members[Columns.PROFILE].map(marketed).astype(bool)]
        if only is not None:
            wanted = list(only)
            long = long.loc[long[Columns.PROFILE].isin(wanted)]
            members = members.loc[members[Columns.PROFILE].isin(wanted)]
        now = int(time.time() * 1000)
        stamp = _ms(as_of)
        version_of = {name: versions.get(score_family(name), "") for name in scores.columns}

        def score_rows(part: pd.DataFrame) -> list[dict[str, Any]]:
            return [
                {
                    Columns.PROFILE: str(row[0]),
                    "name": str(row[1]),
                    "value": float(row[2]),
                    "model_version": version_of[str(row[1])],
                    "as_of": stamp,
                    "scored_at": now,
                }
                for row in part.itertuples(index=False)
            ]

        def member_rows(part: pd.DataFrame) -> list[dict[str, Any]]:
            return [
                {
                    Columns.PROFILE: str(row[0]),
                    "kind": str(row[1]),
                    SEGMENT: str(row[2]),
                    "as_of": stamp,
                    "scored_at": now,
                }
                for row in part.itertuples(index=False)
            ]

        with write_transaction(self.engine) as conn:
            _delete(conn, only)
            _insert(conn, customer_scores, long, score_rows)
            _insert(conn, segment_memberships, members, member_rows)
            if only is None and len(members):
                rows = size_rows(members, stamp, versions.get("segments"), now)
                conn.execute(segment_sizes.insert(), rows)
        return {
            "as_of": as_of.isoformat(),
            "profiles": int(long[Columns.PROFILE].nunique()),
            "scores": len(long),
            "memberships": len(members),
            "versions": versions,
        }

    def scores_of(self, any_id: str) -> dict[str, float]:
        """Stored scores of the profile behind ``any_id`` (empty when unknown, unscored or the
        profile refuses personalization); what decision thresholds read."""
        profile = self.profiles.canonical(any_id)
        if profile is None:
            return {}
        query = sa.select(customer_scores.c.name, customer_scores.c.value).where(
            customer_scores.c[Columns.PROFILE] == profile
        )
        with self.engine.connect() as conn:
            if not self.policy.allows(profile_consent(conn, profile), Purpose.PERSONALIZATION):
                return {}
            return {row.name: float(row.value) for row in conn.execute(query)}

    def segments_of(self, any_id: str) -> tuple[str, ...]:
        """The segment and audience names of the profile behind ``any_id`` (none without
        marketing consent); what content audience conditions read."""
        found = self.profile_scores(any_id)
        if found is None:
            return ()
        names = [found["segment"]] if found["segment"] else []
        return tuple(names + list(found["audiences"]))

    def profile_scores(self, any_id: str) -> dict[str, Any] | None:
        """Scores, segment and audiences of a profile for the API; ``None`` for an unknown id."""
        profile = self.profiles.canonical(any_id)
        if profile is None:
            return None
        with self.engine.connect() as conn:
            choices = profile_consent(conn, profile)
            rows = conn.execute(
                sa.select(customer_scores).where(customer_scores.c[Columns.PROFILE] == profile)
            ).all()
            groups = conn.execute(
                sa.select(segment_memberships.c.kind, segment_memberships.c.segment).where(
                    segment_memberships.c[Columns.PROFILE] == profile
                )
            ).all()
        if not self.policy.allows(choices, Purpose.PERSONALIZATION):
            rows = []
        if not self.policy.allows(choices, Purpose.MARKETING):
            groups = []
        segments = [row.segment for row in groups if row.kind == SEGMENT]
        return {
            Columns.PROFILE: profile,
            "scores": {row.name: float(row.value) for row in rows},
            "segment": segments[0] if segments else None,
            "audiences": sorted(row.segment for row in groups if row.kind == AUDIENCE),
            "as_of": _iso(max((row.as_of for row in rows), default=None)),
            "scored_at": _iso(max((row.scored_at for row in rows), default=None)),
            "model_versions": sorted({row.model_version for row in rows}),
        }

    def segment_history(self, kind: str | None = None, since_ms: int = 0) -> list[dict[str, Any]]:
        """Segment and audience sizes at each full refresh, oldest first."""
        query = sa.select(segment_sizes).where(segment_sizes.c.as_of >= since_ms)
        if kind is not None:
            query = query.where(segment_sizes.c.kind == kind)
        query = query.order_by(segment_sizes.c.id)
        with self.engine.connect() as conn:
            return [
                {
                    "as_of": _iso(row.as_of),
                    "recorded_at": _iso(row.recorded_at),
                    "kind": row.kind,
                    SEGMENT: row.segment,
                    "customers": row.customers,
                    "model_version": row.model_version,
                }
                for row in conn.execute(query)
            ]


def _delete(conn: sa.Connection, only: Collection[str] | None) -> None:
    """Delete the stored scores and memberships of ``only`` (of every profile when ``None``)."""
    for table in (customer_scores, segment_memberships):
        delete = table.delete()
        if only is not None:
            delete = delete.where(table.c[Columns.PROFILE].in_(list(only)))
        conn.execute(delete)


def _insert(
    conn: sa.Connection,
    table: sa.Table,
    frame: pd.DataFrame,
    rows: Callable[[pd.DataFrame], list[dict[str, Any]]],
) -> None:
    """Insert ``rows`` of ``frame``, :data:`INSERT_ROWS` at a time: the rows of one part exist
    at once, not those of the whole population."""
    for first in range(0, len(frame), INSERT_ROWS):
        conn.execute(table.insert(), rows(frame.iloc[first : first + INSERT_ROWS]))
