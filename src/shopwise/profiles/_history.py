"""Consent history: every choice that changed a profile's consent, kept as a row of its own.

The profile keeps only the latest choice per purpose; a shop must also be able to show when and
how each choice was made. The profile consumer reports what each folded event changed
(:meth:`ProfileState.apply`) and writes the rows in the same transaction as the profiles, keyed by
the event and the purpose, so folding an event again (a rebuild after an identity merge) adds
nothing twice.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from shopwise.bus import StoredEvent
from shopwise.profiles._state import stated_choices
from shopwise.schema import Columns

DEFAULT_SOURCE = "event"
"""The source of a choice whose statement names none (the consent context of a tracked event)."""


class ConsentHistory:
    """The ``consent_changes`` rows of one batch of folded events."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, event: StoredEvent, changed: list[str]) -> None:
        """Record the purposes whose choice ``event`` changed."""
        if not changed:
            return
        statement = event.context.get(Columns.CONSENT) or {}
        stated = stated_choices(event.context, event.timestamp, event.message_id)
        now = int(time.time() * 1000)
        for purpose in changed:
            self.rows.append(
                {
                    Columns.MESSAGE: event.message_id,
                    "purpose": purpose,
                    "granted": stated[purpose][0],
                    "policy_version": statement.get("policy_version"),
                    "source": statement.get("source") or DEFAULT_SOURCE,
                    Columns.ANONYMOUS: event.anonymous_id,
                    Columns.USER: event.user_id,
                    "occurred_at": event.timestamp,
                    "recorded_at": now,
                }
            )

    def save(self, conn: sa.Connection, insert: sa.Insert) -> None:
        """Write the rows with ``insert`` (one that skips rows already stored)."""
        if self.rows:
            conn.execute(insert, self.rows)
