"""One audit entry and its hash: the canonical form an entry is hashed in, and the chain's start.

The hash format is part of the contract (an auditor may re-check an export with nothing but this
module): SHA-256, as lowercase hex, of the JSON array ``[prev_hash, at, actor, action, subject,
details]`` written by orjson with object keys sorted at every depth. The id is not covered: the
store assigns it on insert, and the order it gives is checked through ``prev_hash`` instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from shopwise.errors import InvalidInput

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry: there is nothing before it."""

ACTOR_LENGTH = 64
ACTION_LENGTH = 64
SUBJECT_LENGTH = 256
"""Column widths of ``audit_log``; checked before writing because SQLite would not refuse a longer
value and PostgreSQL would, and the log must behave the same on both."""


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit log, as stored.

    Attributes
    ----------
    id
        Position in the log (ascending; on PostgreSQL it may skip numbers, see ``AuditLog``).
    at
        When it was recorded, epoch milliseconds.
    actor
        Who did it: ``key:<api key id>``, ``cli`` or ``system``.
    action
        What was done, ``<noun>.<verb>`` (``profile.read``, ``consent.changed``, ...).
    subject
        What it was done to: a profile id, key id, rule version; ``None`` when nothing in
        particular.
    details
        A JSON object of ids and counts, never personal data values or secrets.
    prev_hash
        The hash of the entry before it (:data:`GENESIS_HASH` for the first).
    hash
        :func:`entry_hash` of this entry's fields and ``prev_hash``.
    """

    id: int
    at: int
    actor: str
    action: str
    subject: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        """The entry as a JSON object (column names as keys)."""
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


class ChainHead(NamedTuple):
    """How long the chain is and the hash of its last entry; kept outside the store by an
    operator, it lets :meth:`AuditLog.verify` notice entries deleted from the end."""

    entries: int
    hash: str


def entry_hash(
    prev_hash: str, at: int, actor: str, action: str, subject: str | None, details: Any
) -> str:
    """The hash of one entry (see the module docstring for the exact form hashed).

    Parameters
    ----------
    prev_hash
        The previous entry's hash, :data:`GENESIS_HASH` for the first entry.
    at, actor, action, subject, details
        The entry's fields, ``details`` as it reads back from the store.

    Returns
    -------
    str
        SHA-256 as 64 lowercase hex digits.
    """
    canonical = orjson.dumps(
        [prev_hash, at, actor, action, subject, details], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


def stored_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """``details`` as the store will give it back, so the hash covers exactly what is kept.

    A JSON round trip turns tuples into lists, NaN into null and datetimes into strings; hashing
    the caller's objects instead would make a faithful entry fail verification.

    Raises
    ------
    InvalidInput
        When ``details`` is not a mapping with string keys or holds a value JSON cannot carry.
    """
    if details is None:
        return {}
    if not isinstance(details, Mapping):
        raise InvalidInput(f"audit details must be a mapping, not {type(details).__name__}")
    try:
        value: dict[str, Any] = orjson.loads(orjson.dumps(dict(details)))
    except orjson.JSONEncodeError as exc:
        raise InvalidInput(f"audit details must be JSON: {exc}") from exc
    return value


def check_fields(actor: str, action: str, subject: str | None) -> None:
    """Refuse an entry the ``audit_log`` columns cannot hold.

    Raises
    ------
    InvalidInput
        An empty actor or action, or a field longer than its column.
    """
    if not actor or not action:
        raise InvalidInput("an audit entry needs an actor and an action")
    for name, value, limit in (
        ("actor", actor, ACTOR_LENGTH),
        ("action", action, ACTION_LENGTH),
        ("subject", subject, SUBJECT_LENGTH),
    ):
        if value is not None and len(value) > limit:
            # the value itself stays out of the message: an over-long one may be personal data
            raise InvalidInput(f"audit {name} is {len(value)} characters, over its {limit}")
