"""Export: everything held about a person, as one JSON document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from shopwise.profiles import Profiles
from shopwise.rights._person import Person
from shopwise.schema import Columns
from shopwise.store import (
    audience_exports,
    customer_scores,
    events,
    outbox_messages,
    privacy_requests,
    segment_memberships,
    trigger_decisions,
)

EXPORT_FORMAT = "shopwise.person.v1"
"""Name and version of the document's layout."""


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def export_person(engine: sa.Engine, people: Profiles, person: Person) -> dict[str, Any]:
    """The person's profile, ids, events (with the exposures shopwise recorded of them),
    consent history, stored scores and segments, the audience exports they were written in and
    the privacy requests made for them, and the messages (email, webhook) about them."""
    view = people.get(person.profile_id)
    history = people.consent_history(person.profile_id)
    users, anons, owned = list(person.user_ids), list(person.anonymous_ids), person.profile_ids
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(events)
            .where(
                sa.or_(events.c[Columns.ANONYMOUS].in_(anons), events.c[Columns.USER].in_(users))
            )
            .order_by(events.c[Columns.EVENT_ID])
        ).mappings()
        event_rows = [_event(row) for row in stored]
        scores = conn.execute(
            sa.select(customer_scores).where(customer_scores.c[Columns.PROFILE].in_(owned))
        ).mappings()
        score_rows = [
            {"name": r["name"], "value": r["value"], "as_of": _iso(r["as_of"])} for r in scores
        ]
        groups = conn.execute(
            sa.select(segment_memberships).where(segment_memberships.c[Columns.PROFILE].in_(owned))
        ).mappings()
        group_rows = [{"kind": r["kind"], "segment": r["segment"]} for r in groups]
        exported = conn.execute(
            sa.select(audience_exports).where(audience_exports.c[Columns.PROFILE].in_(owned))
        ).mappings()
        export_rows = [
            {"export_id": r["export_id"], "kind": r["kind"], "at": _iso(r["exported_at"])}
            for r in exported
        ]
        requests = conn.execute(
            sa.select(privacy_requests).where(privacy_requests.c[Columns.PROFILE].in_(owned))
        ).mappings()
        request_rows = [
            {"id": r["id"], "kind": r["kind"], "status": r["status"], "at": _iso(r["requested_at"])}
            for r in requests
        ]
        sent = conn.execute(
            sa.select(outbox_messages).where(outbox_messages.c[Columns.PROFILE].in_(owned))
        ).mappings()
        message_rows = [
            {
                "id": r["id"],
                "channel": r["channel"],
                "kind": r["kind"],
                "status": r["status"],
                "created_at": _iso(r["created_at"]),
                "delivered_at": _iso(r["delivered_at"]),
            }
            for r in sent
        ]
        decided = conn.execute(
            sa.select(trigger_decisions).where(trigger_decisions.c[Columns.PROFILE].in_(owned))
        ).mappings()
        decision_rows = [
            {
                "trigger": r["trigger"],
                "outcome": r["outcome"],
                "reason": r["reason"],
                "decided_at": _iso(r["decided_at"]),
                "message_id": r["message_id"],
            }
            for r in decided
        ]
    return {
        "format": EXPORT_FORMAT,
        "exported_at": datetime.now(UTC).isoformat(),
        "profile": view.public() if view is not None else None,
        "identities": {
            "profile_ids": list(person.profile_ids),
            "user_ids": users,
            "anonymous_ids": anons,
        },
        "events": event_rows,
        "consent_history": history[1] if history is not None else [],
        "scores": score_rows,
        "segments": group_rows,
        "audience_exports": export_rows,
        "privacy_requests": request_rows,
        "messages": message_rows,
        "trigger_decisions": decision_rows,
    }


def _event(row: Any) -> dict[str, Any]:
    return {
        "id": row[Columns.EVENT_ID],
        Columns.MESSAGE: row[Columns.MESSAGE],
        "type": row[Columns.TYPE],
        Columns.ANONYMOUS: row[Columns.ANONYMOUS],
        Columns.USER: row[Columns.USER],
        Columns.SESSION: row[Columns.SESSION],
        Columns.TIME: _iso(row[Columns.TIME]),
        Columns.CONTEXT: row[Columns.CONTEXT],
        Columns.PROPERTIES: row[Columns.PROPERTIES],
    }
