"""Consent decided in one place: may this person's data be used for purpose P.

A profile keeps its latest choice per purpose (``ProfileState.consent``: purpose or
:data:`~shopwise.schema.DO_NOT_SELL` -> ``[granted, ts, message_id]``), and an event may carry its
own statement (``context.consent.purposes``). :func:`allows` answers for a profile's choices,
:func:`event_allows` for an event's statement; everything that reads personal data for a purpose
(training, features, stored scores, exports) asks one of them, directly or through
:func:`consent_by_profile` and :class:`ConsentedEvents`.

What silence means depends on the purpose: analytics, personalization and marketing are allowed
until refused; advertising (sharing with ad platforms) needs an explicit grant, and a CCPA opt-out
of sale refuses it whatever else was said.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import sqlalchemy as sa

from shopwise.schema import DO_NOT_SELL, Columns, Purpose
from shopwise.store import profiles

Choices = Mapping[str, Sequence[Any]]
"""A profile's consent state: purpose (or ``do_not_sell``) -> ``[granted, ts, message_id]``."""

OPT_IN: Final[frozenset[str]] = frozenset({Purpose.ADVERTISING})
"""Purposes that silence refuses: the shopper must have granted them."""


def allows(choices: Choices, purpose: str) -> bool:
    """Whether a profile with these consent ``choices`` allows its data to serve ``purpose``."""
    if purpose == Purpose.ADVERTISING and _granted(choices, DO_NOT_SELL):
        return False
    granted = _granted(choices, purpose)
    return purpose not in OPT_IN if granted is None else granted


def event_allows(context: Mapping[str, Any] | None, purpose: str) -> bool:
    """Whether an event's own consent statement allows ``purpose`` (no statement allows it; the
    profile's choices decide then)."""
    purposes = ((context or {}).get(Columns.CONSENT) or {}).get("purposes") or {}
    return purposes.get(purpose, True) is not False


def _granted(choices: Choices, key: str) -> bool | None:
    choice = choices.get(key)
    return None if choice is None else bool(choice[0])


def consent_by_profile(engine: sa.Engine) -> dict[str, Choices]:
    """Every canonical profile's consent choices (profiles that stated none map to ``{}``)."""
    query = sa.select(profiles.c.profile_id, profiles.c.state).where(
        profiles.c.merged_into.is_(None)
    )
    with engine.connect() as conn:
        return {row.profile_id: row.state.get("consent") or {} for row in conn.execute(query)}


def profile_consent(conn: sa.Connection, profile_id: str) -> Choices:
    """The stored consent choices of one canonical profile (``{}`` when it has no state)."""
    query = sa.select(profiles.c.state).where(profiles.c.profile_id == profile_id)
    state = conn.execute(query).scalar_one_or_none() or {}
    choices: Choices = state.get("consent") or {}
    return choices


def allowed_profiles(engine: sa.Engine, purpose: str) -> Callable[[str], bool]:
    """A predicate over canonical profile ids: whether the profile allows ``purpose`` now.

    A profile the store does not hold yet (an identity not linked by the profile consumer) has
    stated nothing, so the purpose's default applies.
    """
    choices = consent_by_profile(engine)
    refused = {profile for profile, chosen in choices.items() if not allows(chosen, purpose)}
    if purpose in OPT_IN:
        granted = set(choices) - refused
        return granted.__contains__
    return lambda profile: profile not in refused
