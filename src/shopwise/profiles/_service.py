"""Profiles: the bus consumer that keeps them current, and the reads for the API and models.

The consumer applies each batch in one transaction: first the identity links the batch carries
(events with both ids, ``identify``, ``alias``), then each event is folded into its profile;
profiles whose membership changed are rebuilt from their events. A profile's ``watermark``
(highest event id folded in) makes redelivered batches harmless.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson
import sqlalchemy as sa

from shopwise.bus import StoredEvent
from shopwise.profiles._cache import ProfileCache, Resolved
from shopwise.profiles._history import ConsentHistory
from shopwise.profiles._identity import (
    IdentityGraph,
    Link,
    anon_key,
    attribution_filter,
    event_key,
    profile_id_for,
    user_key,
)
from shopwise.profiles._state import ItemInfo, ProfileState, verified
from shopwise.schema import SYSTEM_EVENT_TYPES, Columns, EventType, is_pii
from shopwise.store import (
    PointRead,
    consent_changes,
    events,
    identities,
    insert_once,
    is_sqlite,
    profiles,
    write_transaction,
)

CONSUMER: Final = "profiles"
_EVENT_COLUMNS = [events.c[name] for name in StoredEvent.__slots__]
_CURRENT: Final = (
    sa.select(identities.c.id_key, profiles.c.profile_id, profiles.c.state)
    .join(profiles, profiles.c.profile_id == identities.c.profile_id)
    .where(identities.c.id_key.in_([sa.bindparam("user_key"), sa.bindparam("anon_key")]))
)
"""The serving read: a shopper's identities (user and anonymous key) with their profile, built
once so that a request only binds two values."""


def _still_stored(conn: sa.Connection, batch: Sequence[StoredEvent]) -> list[StoredEvent]:
    """The events of ``batch`` that no erasure deleted since the bus read them.

    An erasure deletes a person's events and profile in one transaction; folding an event it
    deleted would bring the profile back. The rows are share-locked where the engine has row
    locks, so an erasure in flight is waited for (SQLite's write transaction already excludes it).
    """
    ids = [event.id for event in batch]
    query = sa.select(events.c.id).where(events.c.id.in_(ids)).with_for_update(read=True)
    kept = set(conn.execute(query).scalars())
    return [event for event in batch if event.id in kept]


def _key_of(event: StoredEvent) -> str:
    return event_key(event.anonymous_id, event.user_id)


def _state_texts(conn: sa.Connection, ids: set[str]) -> dict[str, str]:
    """The stored states of the profiles ``ids`` that exist, as the text the store holds."""
    if not ids:
        return {}
    text = sa.cast(profiles.c.state, sa.Text)
    query = sa.select(profiles.c.profile_id, text).where(profiles.c.profile_id.in_(ids))
    return {str(row[0]): str(row[1]) for row in conn.execute(query)}


@dataclass
class _Fold:
    """A batch folded into its profiles' states, to be written in the transaction that checked
    or made it."""

    batch: list[StoredEvent]
    owners: list[str]
    """Each event's profile."""
    states: dict[str, ProfileState]
    existing: set[str]
    """The profiles of ``states`` already stored (updated, not inserted)."""
    dirty: set[str]
    """Profiles whose membership changed (rebuilt from their events)."""
    history: ConsentHistory


@dataclass(frozen=True)
class _Snapshot:
    """What a fold outside the write lock read, compared again under it."""

    event_ids: list[int]
    identities: dict[str, str]
    """The batch's known identity keys and their profiles."""
    new_keys: set[str]
    """The batch's identity keys not stored yet."""
    texts: dict[str, str]
    """The stored state text of each of the batch's profiles that exists."""


def links_of(event: StoredEvent) -> list[Link]:
    """Identity links an event carries, verified when its user id is (see :class:`Link`)."""
    found = []
    proven = verified(event.context)
    if event.anonymous_id is not None and event.user_id is not None:
        found.append(Link(event.anonymous_id, event.user_id, event.timestamp, proven))
    if event.type == EventType.ALIAS and event.user_id is not None:
        previous = str(event.properties.get("previous_id", ""))
        if previous and previous != event.user_id:
            found.append(Link(previous, event.user_id, event.timestamp, proven))
    return found


@dataclass(frozen=True)
class ProfileView:
    """A profile as the API returns it."""

    profile_id: str
    user_ids: list[str]
    anonymous_ids: list[str]
    state: ProfileState

    def public(self, now_ms: int | None = None) -> dict[str, Any]:
        s = self.state
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        orders = s.counts.get(EventType.ORDER_COMPLETED, 0)
        return {
            "profile_id": self.profile_id,
            "user_ids": self.user_ids,
            "anonymous_ids": self.anonymous_ids,
            "traits": {
                name: {"value": v[0], "source": v[3], "updated_at": _iso(v[1]), "pii": is_pii(name)}
                for name, v in sorted(s.traits.items())
            },
            "consent": {
                name: {"granted": v[0], "updated_at": _iso(v[1])}
                for name, v in sorted(s.consent.items())
            },
            "first_seen": _iso(s.first_seen),
            "last_seen": _iso(s.last_seen),
            "counters": {
                "events": s.events,
                "sessions": len(s.sessions),
                "views": s.counts.get(EventType.PRODUCT_VIEWED, 0),
                "searches": s.counts.get(EventType.PRODUCTS_SEARCHED, 0),
                "carts": s.counts.get(EventType.PRODUCT_ADDED, 0),
                "orders": orders,
                "revenue": s.revenue_cents / 100,
                "refunds": s.counts.get(EventType.ORDER_REFUNDED, 0),
                "refunded_revenue": s.refunded_cents / 100,
            },
            "recently_viewed": [e[2] for e in s.viewed],
            "recently_carted": [e[2] for e in s.carted],
            "recently_purchased": [e[2] for e in s.purchased],
            "category_affinity": _shares(s.categories),
            "brand_affinity": _shares(s.brands),
            "rfm": {
                "recency_days": None
                if s.last_order_at is None
                else round((now - s.last_order_at) / 86_400_000, 2),
                "frequency": orders,
                "monetary": s.revenue_cents / 100,
            },
        }


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _shares(weights: dict[str, float], top: int = 10) -> dict[str, float]:
    total = sum(weights.values())
    ranked = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {name: round(w / total, 4) for name, w in ranked} if total else {}


class Profiles:
    """Keeps profiles current from the bus and answers profile reads."""

    def __init__(
        self,
        engine: sa.Engine,
        item_info: ItemInfo | None = None,
        cache: ProfileCache | None = None,
    ) -> None:
        self._engine = engine
        self._current = PointRead(engine, _CURRENT)
        self._history_insert = insert_once(engine, consent_changes, Columns.MESSAGE, "purpose")
        self._graph = IdentityGraph()
        self._snapshot_first = is_sqlite(engine)
        self._item_info = item_info
        self.cache = cache or ProfileCache()
        """Serving's cache of :meth:`current` (written through by :meth:`consume`)."""

    # -- the consumer -------------------------------------------------------------------------

    def consume(self, batch: Sequence[StoredEvent]) -> None:
        """Fold a batch of events into profiles (idempotent; see module docstring).

        On SQLite, whose one write lock the API's event commits wait for, a batch that links no
        identities is folded first from a snapshot, outside the lock (:meth:`_fold_snapshot`),
        and written only if what it read is unchanged under the lock (:meth:`_unchanged`): the
        lock is held for the reads that check and the writes, not for decoding and folding.
        Otherwise, for a batch with links and on PostgreSQL (row locks: event inserts do not
        wait for a fold), it is folded under the lock (:meth:`_fold_locked`). Events shopwise
        records about itself (``SYSTEM_EVENT_TYPES``: exposures) are not behaviour and are
        skipped here and in rebuilds alike.
        """
        batch = [e for e in batch if e.type not in SYSTEM_EVENT_TYPES]
        if not batch:
            return
        read_at = self.cache.sequence()
        planned = self._fold_snapshot(batch) if self._snapshot_first else None
        with write_transaction(self._engine) as conn:
            fold = (
                planned[0]
                if planned is not None and self._unchanged(conn, *planned)
                else self._fold_locked(conn, batch)
            )
            if fold is None:
                return
            self._save(conn, fold.states, fold.existing)
            fold.history.save(conn, self._history_insert)
        self.cache.committed(
            (
                (e.anonymous_id, e.user_id, owner)
                for e, owner in zip(fold.batch, fold.owners, strict=True)
            ),
            fold.states,
            fold.dirty,
            read_at,
        )

    def _fold_snapshot(self, batch: list[StoredEvent]) -> tuple[_Fold, _Snapshot] | None:
        """The batch folded from one read transaction, with what it read; ``None`` when the
        batch links identities (links write the graph and may rebuild profiles) or when an
        erasure deleted all of it."""
        if any(links_of(event) for event in batch):
            return None
        with self._engine.connect() as conn:
            kept = _still_stored(conn, batch)
            keys = {event_key(e.anonymous_id, e.user_id) for e in kept}
            known = self._graph.preload(conn, keys)
            owners = [known.get(k) or profile_id_for(k) for k in map(_key_of, kept)]
            texts = _state_texts(conn, set(owners))
        if not kept:
            return None
        states = {profile: ProfileState.from_json(orjson.loads(t)) for profile, t in texts.items()}
        history = self._apply(kept, owners, states, set())
        fold = _Fold(kept, owners, states, set(texts), set(), history)
        return fold, _Snapshot([e.id for e in kept], known, keys - known.keys(), texts)

    def _unchanged(self, conn: sa.Connection, fold: _Fold, read: _Snapshot) -> bool:
        """Under the write lock: whether what ``fold`` read still holds (no event of it erased,
        no identity stored or moved, no profile state written since); the new identities are
        then inserted, rooted at themselves as the fold assumed."""
        if [e.id for e in _still_stored(conn, fold.batch)] != read.event_ids:
            return False
        if self._graph.preload(conn, set(read.identities) | read.new_keys) != read.identities:
            return False
        if _state_texts(conn, set(fold.owners)) != read.texts:
            return False
        cache = dict(read.identities)
        self._graph.ensure_all(conn, read.new_keys, cache)
        return all(cache[key] == profile_id_for(key) for key in read.new_keys)

    def _fold_locked(self, conn: sa.Connection, batch: list[StoredEvent]) -> _Fold | None:
        """The batch folded inside the write transaction ``conn``: identity links applied first,
        profiles whose membership changed rebuilt from their events."""
        batch = _still_stored(conn, batch)
        if not batch:
            return None
        keys = {event_key(e.anonymous_id, e.user_id) for e in batch}
        cache = self._graph.preload(conn, keys)
        links = [link for event in batch for link in links_of(event)]
        dirty = self._graph.link_all(conn, links, cache)
        self._graph.ensure_all(conn, keys, cache)
        owners = [cache[_key_of(e)] for e in batch]
        states = self._load(conn, set(owners) - dirty)
        existing = set(states)
        history = self._apply(batch, owners, states, dirty)
        horizon = max(event.id for event in batch)
        for profile in dirty:
            states[profile] = self._rebuild(conn, profile, horizon, history)
        existing |= set(self._load(conn, dirty))
        return _Fold(batch, owners, states, existing, dirty, history)

    def _apply(
        self,
        batch: list[StoredEvent],
        owners: list[str],
        states: dict[str, ProfileState],
        dirty: set[str],
    ) -> ConsentHistory:
        """Fold each event past its profile's watermark into ``states`` (profiles in ``dirty``
        are rebuilt instead); the consent changes the events made."""
        history = ConsentHistory()
        for event, profile in zip(batch, owners, strict=True):
            if profile in dirty:
                continue
            state = states.setdefault(profile, ProfileState())
            if event.id > state.watermark:
                history.add(event, state.apply(event, self._item_info))
        return history

    def _rebuild(
        self, conn: sa.Connection, profile: str, horizon: int, history: ConsentHistory
    ) -> ProfileState:
        """The profile folded from its events up to ``horizon`` (the batch's last event).

        Events after the horizon may already be committed, but they belong to later batches,
        which fold them in; reading them here would move the watermark past events whose
        identities are not linked yet, and those would then be skipped: a lost event.
        """
        users, anons = self._graph.members(conn, profile)
        query = (
            sa.select(*_EVENT_COLUMNS)
            .where(
                attribution_filter(users, anons),
                events.c.id <= horizon,
            )
            .order_by(events.c.id)
        )
        state = ProfileState()
        for row in conn.execute(query).mappings():
            event = StoredEvent.from_row(dict(row))
            history.add(event, state.apply(event, self._item_info))
        return state

    @staticmethod
    def _load(conn: sa.Connection, ids: set[str]) -> dict[str, ProfileState]:
        if not ids:
            return {}
        query = sa.select(profiles.c.profile_id, profiles.c.state).where(
            profiles.c.profile_id.in_(ids)
        )
        return {row.profile_id: ProfileState.from_json(row.state) for row in conn.execute(query)}

    @staticmethod
    def _save(conn: sa.Connection, states: dict[str, ProfileState], existing: set[str]) -> None:
        if not states:
            return
        now = int(time.time() * 1000)
        updates = [
            {"pid": profile, "state": state.to_json(), "updated_at": now}
            for profile, state in states.items()
            if profile in existing
        ]
        inserts = [
            {"profile_id": profile, "state": state.to_json(), "updated_at": now}
            for profile, state in states.items()
            if profile not in existing
        ]
        if updates:
            conn.execute(
                profiles.update()
                .where(profiles.c.profile_id == sa.bindparam("pid"))
                .values(state=sa.bindparam("state"), updated_at=sa.bindparam("updated_at")),
                updates,
            )
        if inserts:
            conn.execute(profiles.insert(), inserts)

    # -- reads --------------------------------------------------------------------------------

    def canonical(self, any_id: str) -> str | None:
        """The canonical profile id for any linked id (user, anonymous or old profile id)."""
        with self._engine.connect() as conn:
            return self._graph.lookup(conn, any_id)

    def current(self, any_id: str) -> Resolved:
        """(canonical id, state) by a user or anonymous id: the serving path.

        Served from :attr:`cache` when it holds the id, else one query (a user id wins over an
        anonymous id of the same value). Callers must not modify the returned state; the cache
        keeps current what serving reads (``served_view`` in ``_cache``), while counters,
        sessions and traits may lag by the cache's ``ttl`` (use :meth:`get` for those).
        """
        hit, cached = self.cache.get(any_id)
        if hit:
            return cached
        read_at = self.cache.sequence()
        keys = {"user_key": user_key(any_id), "anon_key": anon_key(any_id)}
        rows = self._current.rows(keys)
        found: Resolved = None
        if rows:
            _key, profile, state = min(rows, key=lambda r: not r[0].startswith("u:"))  # user wins
            found = profile, ProfileState.from_json(state)
        return self.cache.put(any_id, found, read_at)

    def get(self, any_id: str) -> ProfileView | None:
        with self._engine.connect() as conn:
            profile = self._graph.lookup(conn, any_id)
            if profile is None:
                return None
            state = self._load(conn, {profile}).get(profile)
            if state is None:
                return None
            users, anons = self._graph.members(conn, profile)
        return ProfileView(profile, users, anons, state)

    def events_of(
        self, any_id: str, after: int = 0, limit: int = 100
    ) -> tuple[str, list[StoredEvent]] | None:
        """The profile's events with id greater than ``after``, oldest first: its behaviour, not
        the exposures shopwise recorded of it (see :func:`attribution_filter`)."""
        with self._engine.connect() as conn:
            profile = self._graph.lookup(conn, any_id)
            if profile is None:
                return None
            users, anons = self._graph.members(conn, profile)
            query = (
                sa.select(*_EVENT_COLUMNS)
                .where(attribution_filter(users, anons), events.c.id > after)
                .order_by(events.c.id)
                .limit(limit)
            )
            rows = conn.execute(query).mappings().all()
        return profile, [StoredEvent.from_row(dict(row)) for row in rows]

    def consent_history(self, any_id: str) -> tuple[str, list[dict[str, Any]]] | None:
        """Every consent change of the profile behind ``any_id``, oldest first, with the policy
        version, source and time of each choice; ``None`` for an unknown id."""
        with self._engine.connect() as conn:
            profile = self._graph.lookup(conn, any_id)
            if profile is None:
                return None
            users, anons = self._graph.members(conn, profile)
            query = (
                sa.select(consent_changes)
                .where(
                    sa.or_(
                        consent_changes.c[Columns.USER].in_(users),
                        consent_changes.c[Columns.ANONYMOUS].in_(anons),
                    )
                )
                .order_by(consent_changes.c.occurred_at, consent_changes.c[Columns.MESSAGE])
            )
            rows = conn.execute(query).mappings().all()
        return profile, [
            {
                "purpose": row["purpose"],
                "granted": row["granted"],
                "policy_version": row["policy_version"],
                "source": row["source"],
                "at": _iso(row["occurred_at"]),
                Columns.MESSAGE: row[Columns.MESSAGE],
            }
            for row in rows
        ]

    def identity_of(self, any_id: str) -> tuple[str | None, str | None] | None:
        """A (user_id, anonymous_id) pair that reaches the profile, for writing events to it."""
        view = self.get(any_id)
        if view is None:
            return None
        if view.user_ids:
            return view.user_ids[0], None
        return None, view.anonymous_ids[0] if view.anonymous_ids else None
