"""Consent as the model stages read it: per event, and each profile's latest choice.

An event may say what its shopper allows (``context.consent.purposes``); a profile keeps the
latest choice per purpose. Training and scoring leave out an event that refuses the purpose
and every event of a profile whose latest choice refuses it. Silence means allowed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from shopwise.schema import Columns
from shopwise.store import identities, profiles


def event_allows(context: dict[str, Any], purpose: str) -> bool:
    """Whether an event's own consent allows ``purpose`` (no statement allows it)."""
    purposes = (context.get(Columns.CONSENT) or {}).get("purposes") or {}
    return purposes.get(purpose, True) is not False


def consent_choices(engine: sa.Engine, key: str) -> dict[str, bool]:
    """Each profile's latest recorded choice for ``key`` (a purpose or ``do_not_sell``).

    Profiles that never stated a choice are absent: the caller decides what silence means.
    """
    choices: dict[str, bool] = {}
    query = sa.select(profiles.c.profile_id, profiles.c.state).where(
        profiles.c.merged_into.is_(None)
    )
    with engine.connect() as conn:
        for row in conn.execute(query):
            choice = (row.state.get("consent") or {}).get(key)
            if choice is not None:
                choices[row.profile_id] = bool(choice[0])
    return choices


def refusing_profiles(engine: sa.Engine, purpose: str) -> set[str]:
    """Profiles whose latest consent refuses ``purpose``."""
    return {profile for profile, granted in consent_choices(engine, purpose).items() if not granted}


def identity_owners(conn: sa.Connection) -> dict[str, str]:
    """Every identity key (``a:...``, ``u:...``) and the canonical profile it belongs to."""
    rows = conn.execute(sa.select(identities.c.id_key, identities.c.profile_id))
    return {row.id_key: row.profile_id for row in rows}
