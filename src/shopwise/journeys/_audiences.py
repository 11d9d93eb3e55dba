"""Acquisition audiences delivered to a marketing tool's webhook on a schedule.

Each run computes the lookalike audience of the top customers (only people who allow
advertising, with SHA-256-hashed emails: :meth:`AudienceExport.lookalike_audience`), compares it
with the membership delivered last time and enqueues, in one transaction with the new membership:

- ``audience.entered`` for each person new to the audience (hashed email and score), about that
  person, so the outbox asks their advertising consent again at send time and an erasure deletes
  the message if it is still waiting;
- ``audience.exited`` for each person who left it, their consent withdrawn included: removing a
  person from the receiver's audience honours their choice, so it is sent under the ``necessary``
  purpose;
- ``audience.bids``: the bid multiplier per segment (about no one person), when the models
  behind it are trained.

What the receiver was given is recorded in ``audience_exports`` (kind :data:`DELIVERED_KIND`), so a
person's data export says where their data went, and the next run compares against it. Like
Segment's audiences, the receiver gets changes, not the whole list again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd
import sqlalchemy as sa

from shopwise.customers import AudienceExport, LookalikeAudience, record_export
from shopwise.customers.segments import HASHED_EMAIL
from shopwise.journeys._message import Enqueued, Message
from shopwise.schema import Columns, Purpose
from shopwise.store import audience_exports, write_transaction

DELIVERED_KIND: Final = "lookalike-hook"
"""``audience_exports.kind`` of the memberships delivered by webhook."""
AUDIENCE: Final = "lookalike"

Enqueue = Callable[[sa.Connection, Message], Enqueued]


@dataclass(frozen=True)
class AudienceDelivery:
    """What one run enqueued: the new export's id and how many entered, exited and bid rows."""

    export_id: str
    entered: int
    exited: int
    bid_rows: int

    def public(self) -> dict[str, Any]:
        return {
            "export_id": self.export_id,
            "entered": self.entered,
            "exited": self.exited,
            "bid_rows": self.bid_rows,
        }


def last_delivered(conn: sa.Connection) -> set[str]:
    """The profiles of the membership delivered last (empty before the first delivery)."""
    latest = (
        sa.select(audience_exports.c.export_id)
        .where(audience_exports.c.kind == DELIVERED_KIND)
        .order_by(audience_exports.c.exported_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = sa.select(audience_exports.c[Columns.PROFILE]).where(
        audience_exports.c.export_id == latest
    )
    return set(conn.execute(query).scalars())


def deliver_audiences(
    engine: sa.Engine,
    export: AudienceExport,
    audience: LookalikeAudience,
    destination: str,
    enqueue: Enqueue,
) -> AudienceDelivery:
    """Enqueue the changes of ``audience`` since the last delivery to ``destination`` and record
    the new membership, in one transaction (see the module docstring)."""
    rows = audience.rows
    with write_transaction(engine) as conn:
        before = last_delivered(conn)
        export_id = record_export(conn, rows.index, DELIVERED_KIND)
        members = [str(profile) for profile in rows.index]
        entered = [profile for profile in members if profile not in before]
        exited = sorted(before - set(members))
        hashes = dict(zip(members, rows[HASHED_EMAIL].astype(str), strict=True))
        scores = dict(zip(members, rows[Columns.SCORE].astype(float), strict=True))
        for profile in entered:
            payload = {
                "audience": AUDIENCE,
                "export_id": export_id,
                HASHED_EMAIL: hashes[profile],
                Columns.SCORE: scores[profile],
            }
            enqueue(conn, _message(destination, "entered", export_id, profile, payload))
        hashed = export.hashed_emails(exited)
        for profile in exited:
            payload = {"audience": AUDIENCE, "export_id": export_id}
            if profile in hashed:
                payload[HASHED_EMAIL] = hashed[profile]
            enqueue(conn, _message(destination, "exited", export_id, profile, payload))
        bid_rows = _enqueue_bids(conn, audience.bids, destination, export_id, enqueue)
    return AudienceDelivery(export_id, len(entered), len(exited), bid_rows)


def _message(
    destination: str, action: str, export_id: str, profile: str, payload: dict[str, Any]
) -> Message:
    return Message(
        channel="webhook",
        destination=destination,
        payload=payload,
        idempotency_key=f"audience:{export_id}:{action}:{profile}",
        kind=f"audience.{action}",
        profile_id=profile,
        purpose=Purpose.ADVERTISING if action == "entered" else Purpose.NECESSARY,
    )


def _enqueue_bids(
    conn: sa.Connection,
    bids: pd.DataFrame | None,
    destination: str,
    export_id: str,
    enqueue: Enqueue,
) -> int:
    if bids is None or bids.empty:
        return 0
    table = bids.reset_index()
    segments = [
        {
            "audience": str(audience),
            "multiplier": multiplier,
            "customers": customers,
            "explanation": text,
        }
        for audience, multiplier, customers, text in zip(
            table["audience"],
            table["multiplier"].astype(float),
            table["customers"].astype(int),
            table["explanation"].astype(str),
            strict=True,
        )
    ]
    message = Message(
        channel="webhook",
        destination=destination,
        payload={"export_id": export_id, "segments": segments},
        idempotency_key=f"audience:{export_id}:bids",
        kind="audience.bids",
        purpose=Purpose.ADVERTISING,
    )
    enqueue(conn, message)
    return len(segments)
