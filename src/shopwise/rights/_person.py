"""The person a data subject request is about: every id that names them."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from shopwise.profiles import Profiles, anon_key, user_key
from shopwise.store import profiles


@dataclass(frozen=True)
class Person:
    """A canonical profile with every id of it: the profiles merged into it, the user and
    anonymous ids linked to it, and the email addresses it declared (to search for)."""

    profile_ids: tuple[str, ...]
    """The canonical profile first, then the profiles merged into it."""
    user_ids: tuple[str, ...]
    anonymous_ids: tuple[str, ...]
    emails: tuple[str, ...]

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


def find_person(engine: sa.Engine, people: Profiles, any_id: str) -> Person | None:
    """The person behind ``any_id`` (a user, anonymous or profile id); ``None`` when unknown."""
    view = people.get(any_id)
    if view is None:
        return None
    query = sa.select(profiles.c.profile_id).where(profiles.c.merged_into == view.profile_id)
    with engine.connect() as conn:
        merged = sorted(conn.execute(query).scalars())
    email = (view.state.traits.get("email") or [None])[0]
    return Person(
        profile_ids=(view.profile_id, *merged),
        user_ids=tuple(view.user_ids),
        anonymous_ids=tuple(view.anonymous_ids),
        emails=(email,) if isinstance(email, str) and email else (),
    )
