"""Consent decided in one place: may this person's data be used for purpose P.

A profile keeps its latest choice per purpose (``ProfileState.consent``: purpose or
:data:`~shopwise.schema.DO_NOT_SELL` -> ``[granted, ts, message_id]``), and an event may carry its
own statement (``context.consent.purposes``). :meth:`ConsentPolicy.allows` answers for a set of
choices, :func:`event_allows` for an event's statement; everything that reads personal data for a
purpose (serving, training, features, stored scores, exports) asks one of them, directly or
through :meth:`ConsentPolicy.allowed_profiles` and :class:`~shopwise.privacy.ConsentedEvents`.

What silence means is the policy's mode for the purpose (``opt_in``: refused until granted;
``opt_out``: allowed until refused), set per purpose in the settings. ``necessary`` is always
allowed, and a CCPA opt-out of sale refuses advertising whatever else was said.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from shopwise.schema import DO_NOT_SELL, Columns, Purpose
from shopwise.settings import ConsentMode, Settings
from shopwise.store import profiles

Choices = Mapping[str, Sequence[Any]]
"""A profile's consent state: purpose (or ``do_not_sell``) -> ``[granted, ts, message_id]``."""

DEFAULT_MODES: Mapping[str, ConsentMode] = {
    Purpose.ANALYTICS: "opt_out",
    Purpose.PERSONALIZATION: "opt_out",
    Purpose.MARKETING: "opt_in",
    Purpose.ADVERTISING: "opt_in",
}
"""The modes of :class:`~shopwise.settings.Settings`' defaults (README: Consent)."""


@dataclass(frozen=True)
class ConsentPolicy:
    """What each purpose needs: an explicit grant (``opt_in``) or no refusal (``opt_out``)."""

    modes: Mapping[str, ConsentMode] = field(default_factory=lambda: dict(DEFAULT_MODES))

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsentPolicy:
        """The policy the ``SHOPWISE_CONSENT_*`` settings declare."""
        return cls(
            {
                Purpose.ANALYTICS: settings.consent_analytics,
                Purpose.PERSONALIZATION: settings.consent_personalization,
                Purpose.MARKETING: settings.consent_marketing,
                Purpose.ADVERTISING: settings.consent_advertising,
            }
        )

    def allows(self, choices: Choices, purpose: str) -> bool:
        """Whether a person with these consent ``choices`` allows their data to serve
        ``purpose``."""
        if purpose == Purpose.NECESSARY:
            return True
        if purpose == Purpose.ADVERTISING and _granted(choices, DO_NOT_SELL):
            return False
        granted = _granted(choices, purpose)
        if granted is None:
            return self.modes.get(purpose, "opt_in") == "opt_out"
        return granted

    def allowed_profiles(self, engine: sa.Engine, purpose: str) -> Callable[[str], bool]:
        """A predicate over canonical profile ids: whether the profile allows ``purpose`` now.

        A profile the store does not hold yet (an identity not linked by the profile consumer)
        has stated nothing, so the purpose's mode decides.
        """
        choices = consent_by_profile(engine)
        silent = self.allows({}, purpose)
        decided = {profile: self.allows(chosen, purpose) for profile, chosen in choices.items()}
        return lambda profile: decided.get(profile, silent)

    def allowed_among(
        self, conn: sa.Connection, purpose: str, profile_ids: Collection[str]
    ) -> set[str]:
        """Which of ``profile_ids`` allow ``purpose`` now, read for them alone (a profile the
        store does not hold yet has stated nothing, so the purpose's mode decides)."""
        choices = consent_of(conn, profile_ids)
        return {p for p in profile_ids if self.allows(choices.get(p, {}), purpose)}


def _granted(choices: Choices, key: str) -> bool | None:
    choice = choices.get(key)
    return None if choice is None else bool(choice[0])


def event_allows(context: Mapping[str, Any] | None, purpose: str) -> bool:
    """Whether an event's own consent statement allows ``purpose`` (no statement allows it; the
    person's choices decide then)."""
    purposes = ((context or {}).get(Columns.CONSENT) or {}).get("purposes") or {}
    return purposes.get(purpose, True) is not False


def consent_by_profile(engine: sa.Engine) -> dict[str, Choices]:
    """Every canonical profile's consent choices (profiles that stated none map to ``{}``)."""
    query = sa.select(profiles.c.profile_id, profiles.c.state).where(
        profiles.c.merged_into.is_(None)
    )
    with engine.connect() as conn:
        return {row.profile_id: row.state.get("consent") or {} for row in conn.execute(query)}


def consent_of(conn: sa.Connection, profile_ids: Collection[str]) -> dict[str, Choices]:
    """The consent choices of those of ``profile_ids`` the store holds as canonical profiles."""
    query = sa.select(profiles.c.profile_id, profiles.c.state).where(
        profiles.c.profile_id.in_(sorted(profile_ids)), profiles.c.merged_into.is_(None)
    )
    return {row.profile_id: row.state.get("consent") or {} for row in conn.execute(query)}


def profile_consent(conn: sa.Connection, profile_id: str) -> Choices:
    """The stored consent choices of one canonical profile (``{}`` when it has no state)."""
    query = sa.select(profiles.c.state).where(profiles.c.profile_id == profile_id)
    state = conn.execute(query).scalar_one_or_none() or {}
    choices: Choices = state.get("consent") or {}
    return choices
