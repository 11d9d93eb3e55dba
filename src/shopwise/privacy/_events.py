"""The consented-event reader: the store's events attributed to profiles, filtered by consent.

Training, features and the evaluation of the shop's own data all read events the same way: in
event-id order, each attributed to the canonical profile of its identity (the user id when it has
one, else the anonymous id) through the identity graph, and left out when its own consent statement
or its profile's latest choice refuses the purpose (:meth:`~shopwise.privacy.ConsentPolicy.allows`).

Only the shopper's own activity is read: the events shopwise records about itself (exposures,
``shopwise.schema.SYSTEM_EVENT_TYPES``, written by serving with no key) are never read here, so no
feature, segment or score counts them as activity (a served email placement must not make a lapsed
customer look active). This reader is the one place that rule holds for them all, with the same
condition the profiles use (:func:`shopwise.store.shopper_events`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from shopwise.privacy._consent import ConsentPolicy, event_allows
from shopwise.profiles import anon_key, profile_id_for, user_key
from shopwise.store import events, identities, shopper_events

BATCH_ROWS = 5000
"""Rows fetched from the store at a time."""


@dataclass(frozen=True, slots=True)
class ConsentedEvent:
    """One stored event that may serve the purpose, with the canonical profile it belongs to."""

    profile: str
    type: str
    session_id: str | None
    product_id: str | None
    timestamp: int
    properties: dict[str, Any]


@dataclass
class ConsentedEvents:
    """The shopper events of the store that may serve ``purpose`` (see module docstring).

    Iterate once; :attr:`excluded` then counts the events left out for lack of consent.
    """

    engine: sa.Engine
    policy: ConsentPolicy
    purpose: str
    types: Collection[str] | None = None
    """Event types to read; every type when ``None``."""
    excluded: int = 0

    def __iter__(self) -> Iterator[ConsentedEvent]:
        self.excluded = 0
        allowed = self.policy.allowed_profiles(self.engine, self.purpose)
        query = (
            sa.select(
                events.c.type,
                events.c.anonymous_id,
                events.c.user_id,
                events.c.session_id,
                events.c.product_id,
                events.c.timestamp,
                events.c.context,
                events.c.properties,
            )
            .where(shopper_events())
            .order_by(events.c.id)
        )
        if self.types is not None:
            query = query.where(events.c.type.in_(sorted(self.types)))
        with self.engine.connect() as conn:
            owners = identity_owners(conn)
            for row in conn.execution_options(yield_per=BATCH_ROWS).execute(query):
                key = user_key(row.user_id) if row.user_id else anon_key(row.anonymous_id)
                # identities the profile consumer has not linked yet are roots of their own profile
                profile = owners.get(key) or profile_id_for(key)
                if not allowed(profile) or not event_allows(row.context, self.purpose):
                    self.excluded += 1
                    continue
                yield ConsentedEvent(
                    profile,
                    row.type,
                    row.session_id,
                    row.product_id,
                    row.timestamp,
                    row.properties or {},
                )


def owners_of(conn: sa.Connection, id_keys: Collection[str]) -> dict[str, str]:
    """The canonical profile of each of ``id_keys`` the identity graph holds."""
    query = sa.select(identities.c.id_key, identities.c.profile_id).where(
        identities.c.id_key.in_(sorted(id_keys))
    )
    return {row.id_key: row.profile_id for row in conn.execute(query)}


def identity_owners(conn: sa.Connection) -> dict[str, str]:
    """Every identity key (``a:...``, ``u:...``) and the canonical profile it belongs to."""
    rows = conn.execute(sa.select(identities.c.id_key, identities.c.profile_id))
    return {row.id_key: row.profile_id for row in rows}
