"""The identity graph: anonymous ids and user ids linked into canonical profiles, in real time.

Keys are ``a:<anonymous_id>`` and ``u:<user_id>``. A user id is the root of its own profile and is
never re-parented, so two known users are never merged by accident. An anonymous id joins at most
one user: the one from its best link, a verified link before any claimed one (see
:class:`Link`), then the earliest (event time, then user id), which makes the graph the same
whatever order links arrive in. So a write key that merely claims a user id can link its own
browser to it, but never takes a browser away from a user it was verified to. An anonymous id with
no link has a profile of its own; when it is linked, that profile is marked merged into the user's.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from shopwise.profiles._state import ProfileState
from shopwise.schema import Columns
from shopwise.store import events, identities, insert_once, profiles, shopper_events


def anon_key(anonymous_id: str) -> str:
    return f"a:{anonymous_id}"


def user_key(user_id: str) -> str:
    return f"u:{user_id}"


def profile_id_for(key: str) -> str:
    """The canonical profile id rooted at identity ``key`` (stable, reveals nothing)."""
    return "p_" + hashlib.blake2b(key.encode(), digest_size=10).hexdigest()


@dataclass(frozen=True)
class Link:
    """An observation that an anonymous id and a user id are the same person, at event time."""

    anonymous_id: str
    user_id: str
    timestamp: int
    verified: bool = False
    """Whether the event's user id was proven (the collector's verdict); a claimed link only
    stitches ids for analytics."""

    def rank(self) -> tuple[bool, int, str]:
        """Lower wins: verified first, then the earliest, then the smaller user id."""
        return (not self.verified, self.timestamp, self.user_id)


def best_links(links: list[Link]) -> list[Link]:
    """Each anonymous id's best link of ``links``: the graph keeps only the best link it has
    seen (see the module docstring), so a batch's others can never move an id."""
    best: dict[str, Link] = {}
    for link in links:
        held = best.get(link.anonymous_id)
        if held is None or link.rank() < held.rank():
            best[link.anonymous_id] = link
    return list(best.values())


def _now() -> int:
    return int(time.time() * 1000)


class IdentityGraph:
    """Reads and updates the graph inside the caller's transaction."""

    def resolve(self, conn: sa.Connection, key: str) -> str | None:
        query = sa.select(identities.c.profile_id).where(identities.c.id_key == key)
        return conn.execute(query).scalar_one_or_none()

    def preload(self, conn: sa.Connection, keys: set[str]) -> dict[str, str]:
        """Profiles of the known ``keys`` in one query: the cache for :meth:`ensure`."""
        query = sa.select(identities.c.id_key, identities.c.profile_id).where(
            identities.c.id_key.in_(sorted(keys))
        )
        return {row.id_key: row.profile_id for row in conn.execute(query)}

    def ensure(self, conn: sa.Connection, key: str, cache: dict[str, str]) -> str:
        """The profile of ``key``, creating the identity (rooted at itself) when new."""
        if key in cache:
            return cache[key]
        profile = self.resolve(conn, key)
        if profile is None:
            profile = profile_id_for(key)
            conn.execute(
                identities.insert().values(id_key=key, profile_id=profile, created_at=_now())
            )
        cache[key] = profile
        return profile

    def ensure_all(self, conn: sa.Connection, keys: set[str], cache: dict[str, str]) -> None:
        """:meth:`ensure` for every key of ``keys``: the new ones are inserted with one statement
        and read back with one query (a consumer elsewhere may have inserted one first, perhaps
        linked to another profile; the stored row wins)."""
        new = sorted(keys - cache.keys())
        if not new:
            return
        now = _now()
        rows = [{"id_key": k, "profile_id": profile_id_for(k), "created_at": now} for k in new]
        conn.execute(insert_once(conn.engine, identities, "id_key"), rows)
        cache.update(self.preload(conn, set(new)))

    def link_all(self, conn: sa.Connection, links: list[Link], cache: dict[str, str]) -> set[str]:
        """Apply a batch's ``links``; returns the profiles whose membership changed (to be
        rebuilt). Only each anonymous id's best link can move it (:func:`best_links`), and the
        identities those links name are read with one query."""
        best = best_links(links)
        verified_now = frozenset((k.anonymous_id, k.user_id) for k in links if k.verified)
        keys = sorted(anon_key(link.anonymous_id) for link in best)
        query = sa.select(identities).where(identities.c.id_key.in_(keys))
        rows = {row.id_key: row for row in conn.execute(query)}
        dirty: set[str] = set()
        for link in best:
            row = rows.get(anon_key(link.anonymous_id))
            dirty |= self._link(conn, link, row, cache, verified_now)
        return dirty

    def _link(
        self,
        conn: sa.Connection,
        link: Link,
        row: sa.Row[Any] | None,
        cache: dict[str, str],
        verified_now: frozenset[tuple[str, str]],
    ) -> set[str]:
        """Apply ``link`` to its anonymous id's stored ``row`` (``None``: a new id).

        ``verified_now``: the (anonymous id, user id) pairs of the verified links of the batch
        being applied, which the stored profiles do not show yet.
        """
        target = self.ensure(conn, user_key(link.user_id), cache)
        key = anon_key(link.anonymous_id)
        if row is None:
            conn.execute(
                identities.insert().values(
                    id_key=key,
                    profile_id=target,
                    link_ts=link.timestamp,
                    link_user=link.user_id,
                    created_at=_now(),
                )
            )
            cache[key] = target
            return set()
        current = None
        if row.link_user is not None:
            held = (link.anonymous_id, row.link_user)
            proven = held in verified_now or self._verified(conn, row.profile_id, held[0])
            current = Link(held[0], held[1], row.link_ts, proven)
        if current is not None and current.rank() <= link.rank():
            return set()
        previous = row.profile_id
        conn.execute(
            identities.update()
            .where(identities.c.id_key == key)
            .values(profile_id=target, link_ts=link.timestamp, link_user=link.user_id)
        )
        cache[key] = target
        if previous == target:
            return set()
        if current is None:  # the anonymous profile joins the user's
            conn.execute(
                profiles.update()
                .where(profiles.c.profile_id == previous)
                .values(merged_into=target, updated_at=_now())
            )
        return {previous, target}

    @staticmethod
    def _verified(conn: sa.Connection, profile: str, anonymous_id: str) -> bool:
        """Whether the stored ``profile`` holds a verified link of ``anonymous_id``."""
        query = sa.select(profiles.c.state).where(profiles.c.profile_id == profile)
        state = conn.execute(query).scalar_one_or_none()
        return state is not None and anonymous_id in ProfileState.from_json(state).verified_ids

    def members(self, conn: sa.Connection, profile: str) -> tuple[list[str], list[str]]:
        """(user ids, anonymous ids) that resolve to ``profile``."""
        keys = conn.execute(
            sa.select(identities.c.id_key).where(identities.c.profile_id == profile)
        ).scalars()
        users: list[str] = []
        anons: list[str] = []
        for key in keys:
            (users if key.startswith("u:") else anons).append(key[2:])
        return sorted(users), sorted(anons)

    def lookup(self, conn: sa.Connection, any_id: str) -> str | None:
        """The canonical profile for a user id, an anonymous id or a (merged) profile id."""
        for key in (user_key(any_id), anon_key(any_id)):
            profile = self.resolve(conn, key)
            if profile is not None:
                return profile
        seen: set[str] = set()
        current: str | None = any_id
        while current is not None and current not in seen:
            seen.add(current)
            row = conn.execute(
                sa.select(profiles.c.merged_into).where(profiles.c.profile_id == current)
            ).first()
            if row is None:
                return None
            if row.merged_into is None:
                return current
            current = row.merged_into
        return None


def event_key(anonymous_id: str | None, user_id: str | None) -> str:
    """The identity an event is attributed to: its user id when it has one."""
    if user_id is not None:
        return user_key(user_id)
    assert anonymous_id is not None
    return anon_key(anonymous_id)


def attribution_filter(users: list[str], anons: list[str]) -> sa.ColumnElement[bool]:
    """The behaviour events of a profile with these members (user id first, else anonymous id).

    Shopwise's own records (exposures, ``SYSTEM_EVENT_TYPES``) are left out: they are not the
    shopper's behaviour, and leaving them out is what lets the store use its identity indexes
    (:func:`~shopwise.store.shopper_events`).
    """
    clauses: list[sa.ColumnElement[bool]] = []
    if users:
        clauses.append(sa.and_(shopper_events(), events.c[Columns.USER].in_(users)))
    if anons:
        clauses.append(
            sa.and_(
                shopper_events(),
                events.c[Columns.ANONYMOUS].in_(anons),
                sa.func.coalesce(events.c[Columns.USER], "") == "",  # (ids are never empty)
            )
        )
    # The condition sits in each branch: SQLite matches a partial index per branch of an OR.
    # "No user id" is written so that no index can serve it: as "user_id IS NULL", SQLite read
    # it through the user id index, that is every anonymous event of the shop.
    return sa.or_(*clauses) if clauses else sa.false()
