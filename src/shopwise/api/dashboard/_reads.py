"""The few lists the dashboard shows that no service lists yet.

The services answer one privacy request (:meth:`shopwise.rights.SubjectRights.request`) and one
outbox message with its attempts (:meth:`shopwise.journeys.Outbox.message`, ``attempts``), but an
operator's page needs the recent ones, and the triggers' outcomes counted. These read-only queries
fill that gap and nothing more: the sealed columns (an email destination, a message's payload, a
decision's context) are never selected, and every other read goes through its service.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa

from shopwise.schema import Columns
from shopwise.store import outbox_messages, privacy_requests, trigger_decisions

RECENT: Final = 100
"""Rows a list shows (the newest)."""


def recent_privacy_requests(engine: sa.Engine, limit: int = RECENT) -> list[dict[str, Any]]:
    """Data subject requests, the newest first, as :meth:`SubjectRights.request` shows one."""
    table = privacy_requests
    query = sa.select(table).order_by(table.c.requested_at.desc(), table.c.id).limit(limit)
    with engine.connect() as conn:
        return [
            {
                "request_id": row["id"],
                "kind": row["kind"],
                "profile_id": row[Columns.PROFILE],
                "status": row["status"],
                "requested_by": row["requested_by"],
                "requested_at": row["requested_at"],
                "updated_at": row["updated_at"],
                "details": row["details"],
            }
            for row in conn.execute(query).mappings()
        ]


def recent_messages(engine: sa.Engine, limit: int = RECENT) -> list[dict[str, Any]]:
    """Outbox messages, the newest first, without their sealed destination and payload."""
    table = outbox_messages
    shown = [
        table.c.id,
        table.c.channel,
        table.c.kind,
        table.c.purpose,
        table.c[Columns.PROFILE],
        table.c.status,
        table.c.attempts,
        table.c.next_attempt_at,
        table.c.last_error,
        table.c.created_at,
        table.c.delivered_at,
    ]
    query = sa.select(*shown).order_by(table.c.created_at.desc(), table.c.id).limit(limit)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def message_statuses(engine: sa.Engine) -> dict[str, int]:
    """How many outbox messages are in each status."""
    table = outbox_messages
    query = sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
    with engine.connect() as conn:
        return {status: int(count) for status, count in conn.execute(query)}


def trigger_outcomes(engine: sa.Engine) -> list[dict[str, Any]]:
    """The triggers' decisions counted per trigger and outcome (fired, holdout, capped, ...)."""
    table = trigger_decisions
    query = (
        sa.select(table.c.trigger, table.c.outcome, sa.func.count())
        .group_by(table.c.trigger, table.c.outcome)
        .order_by(table.c.trigger, table.c.outcome)
    )
    with engine.connect() as conn:
        return [
            {"trigger": trigger, "outcome": outcome, "decisions": int(count)}
            for trigger, outcome, count in conn.execute(query)
        ]
