"""The person a data subject request is about: every id that names them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from shopwise.privacy import PiiCipher
from shopwise.profiles import Profiles, anon_key, user_key
from shopwise.schema import Columns, EventType
from shopwise.store import events, profiles, shopper_events


@dataclass(frozen=True)
class Person:
    """A canonical profile with every id of it: the profiles merged into it, the user and
    anonymous ids linked to it, and the email addresses it declared (to search for)."""

    profile_ids: tuple[str, ...]
    """The canonical profile first, then the profiles merged into it."""
    user_ids: tuple[str, ...]
    anonymous_ids: tuple[str, ...]
    emails: tuple[str, ...]
    email_hashes: tuple[str, ...] = ()
    """Keyed hashes of the emails, as sealed values carry them (to search without decrypting)."""
    order_ids: tuple[str, ...] = ()
    """The ids of the orders they completed (the KPI sketches may hold them)."""

    @property
    def profile_id(self) -> str:
        return self.profile_ids[0]

    @property
    def id_keys(self) -> list[str]:
        """Identity keys (``u:...``, ``a:...``) of every id."""
        return [user_key(u) for u in self.user_ids] + [anon_key(a) for a in self.anonymous_ids]

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id a shop may have sent for the person."""
        return self.user_ids + self.anonymous_ids


def find_person(
    engine: sa.Engine, people: Profiles, cipher: PiiCipher, any_id: str
) -> Person | None:
    """The person behind ``any_id`` (a user, anonymous or profile id, or the email address they
    declared, found by its keyed hash); ``None`` when unknown."""
    view = people.get(_by_email(engine, cipher, any_id) or any_id)
    if view is None:
        return None
    query = sa.select(profiles.c.profile_id).where(profiles.c.merged_into == view.profile_id)
    with engine.connect() as conn:
        merged = sorted(conn.execute(query).scalars())
        orders = _order_ids(conn, view.user_ids, view.anonymous_ids)
    email = cipher.open((view.state.traits.get("email") or [None])[0])
    emails = (email,) if isinstance(email, str) and email else ()
    return Person(
        profile_ids=(view.profile_id, *merged),
        user_ids=tuple(view.user_ids),
        anonymous_ids=tuple(view.anonymous_ids),
        emails=emails,
        email_hashes=tuple(cipher.index(e) for e in emails),
        order_ids=orders,
    )


def _order_ids(
    conn: sa.Connection, user_ids: Iterable[str], anonymous_ids: Iterable[str]
) -> tuple[str, ...]:
    """The order ids of the completed orders sent under the ids (a query per id column: SQLite
    uses neither shopper index for an OR of the two)."""
    found: set[str] = set()
    for column, ids in ((Columns.USER, user_ids), (Columns.ANONYMOUS, anonymous_ids)):
        query = sa.select(events.c[Columns.PROPERTIES]).where(
            shopper_events(),
            events.c[Columns.TYPE] == EventType.ORDER_COMPLETED,
            events.c[column].in_(sorted(ids)),
        )
        for props in conn.execute(query).scalars():
            if props and props.get(Columns.ORDER) is not None:
                found.add(str(props[Columns.ORDER]))
    return tuple(sorted(found))


def _by_email(engine: sa.Engine, cipher: PiiCipher, text: str) -> str | None:
    """The canonical profile that declared ``text`` as its email, if ``text`` is one."""
    if "@" not in text:
        return None
    sealed = sa.cast(profiles.c.state, sa.Text).like(f"%:{cipher.index(text)}%")
    query = sa.select(profiles.c.profile_id).where(profiles.c.merged_into.is_(None), sealed)
    with engine.connect() as conn:
        return conn.execute(query.limit(1)).scalar_one_or_none()
