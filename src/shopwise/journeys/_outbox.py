"""The transactional outbox: messages written with the decision that made them, sent after.

Enqueue (:meth:`Outbox.enqueue`) inserts a ``pending`` row on the caller's connection, inside its
transaction: a trigger's decision and its message commit together or not at all. The idempotency
key is unique, so enqueueing a message again (a retried trigger run) stores nothing.

Dispatch (:meth:`Outbox.dispatch_due`) takes one due row at a time with a lease: an ``UPDATE``
whose ``WHERE`` repeats the due condition (``pending`` or ``failed`` and due, or ``sending`` with
an expired lease), committed before anything is sent, so two dispatchers never hold one message
(the second update finds the row no longer due and changes nothing). The message is then sent
outside any transaction and the result recorded under the same lease: ``delivered``, ``failed``
with the next attempt drawn with exponential backoff and full jitter, or ``dead`` (a permanent
refusal, or the last of ``max_attempts``). Each attempt adds a row to the delivery log
(``outbox_attempts``).

Delivery is at least once: a dispatcher that dies after sending and before recording leaves a
``sending`` row whose lease expires, and the message is sent again, with the same idempotency key
(``Idempotency-Key`` header, the email's Message-ID) so the receiver can drop the repeat. The
lease outlasts the channel's timeouts, so a live dispatcher's send is never taken over.

Consent is asked again at send time: a message about a person who no longer allows its purpose is
``suppressed`` (the reason recorded), never sent. An email address is sealed at rest like a PII
trait; erasure deletes a person's messages and their delivery log.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
import sqlalchemy as sa

from shopwise.journeys._message import (
    DEAD,
    DELIVERED,
    FAILED,
    PENDING,
    SENDING,
    SUPPRESSED,
    Delivery,
    Enqueued,
    Message,
    Outgoing,
    Sender,
    check_message,
)
from shopwise.journeys._smtp import SmtpConfig, SmtpSender
from shopwise.journeys._webhook import WebhookSender
from shopwise.privacy import Choices, ConsentPolicy, PiiCipher
from shopwise.settings import Settings
from shopwise.store import (
    insert_once,
    outbox_attempts,
    outbox_messages,
    profiles,
    write_transaction,
)

log = logging.getLogger("shopwise.journeys")

LEASE_FLOOR_SECONDS: Final = 60.0
"""The shortest lease on a claimed message."""
LEASE_TIMEOUTS: Final = 6
"""A lease lasts this many channel timeouts (at least :data:`LEASE_FLOOR_SECONDS`): one send
may spend a timeout connecting, another per read, and must end well inside its lease."""
CANDIDATES: Final = 8
"""Due messages read per claim round; a dispatcher takes the first it can still lease."""
BATCH: Final = 100
"""Messages one :meth:`Outbox.dispatch_due` call sends at most."""
MERGE_HOPS: Final = 8
"""Merged profiles followed to the canonical one when reading a person's consent."""


def backoff_seconds(attempt: int, base: float, cap: float, rng: np.random.Generator) -> float:
    """The wait after failed attempt number ``attempt`` (1 for the first): drawn uniformly in
    ``[0, min(cap, base * 2 ** (attempt - 1))]`` (exponential backoff with full jitter, so
    messages that failed together do not come back together)."""
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 64))
    return float(rng.uniform(0.0, ceiling))


@dataclass
class DispatchSummary:
    """What one :meth:`Outbox.dispatch_due` call did, message counts by outcome."""

    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    suppressed: int = 0
    expired: int = 0
    """``sending`` rows out of attempts whose lease lapsed (their dispatcher died): now dead."""

    def public(self) -> dict[str, int]:
        return asdict(self)


class Outbox:
    """The outbox of one store and its dispatcher (see the module docstring).

    Parameters
    ----------
    engine
        The store.
    consent
        The policy asked at send time.
    cipher
        Seals email addresses and PII traits in payloads at rest, and opens them to send. Its
        keys are loaded here, so that sealing inside a caller's transaction never opens another.
    senders
        The channel (``email``, ``webhook``) -> its sender.
    max_attempts, backoff_base_seconds, backoff_max_seconds
        Attempts before ``dead``; the first backoff ceiling and the largest one.
    lease_seconds
        How long a claim holds; it must outlast one send.
    owner
        The name claims are taken under (this process and a random suffix by default).
    rng
        Draws the jittered backoffs.
    clock
        The present in epoch seconds (``time.time`` by default).
    """

    def __init__(
        self,
        engine: sa.Engine,
        consent: ConsentPolicy,
        cipher: PiiCipher,
        senders: Mapping[str, Sender],
        *,
        max_attempts: int = 8,
        backoff_base_seconds: float = 30.0,
        backoff_max_seconds: float = 3600.0,
        lease_seconds: float = LEASE_FLOOR_SECONDS,
        owner: str | None = None,
        rng: np.random.Generator | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, not {lease_seconds}")
        self._engine = engine
        self._consent = consent
        self._cipher = cipher
        cipher.active_key  # noqa: B018 - loads (or makes) the keys outside any caller's transaction
        self._senders = dict(senders)
        self._max_attempts = max_attempts
        self._backoff = (backoff_base_seconds, backoff_max_seconds)
        self._lease_ms = int(lease_seconds * 1000)
        self._owner = owner or f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._rng = rng if rng is not None else np.random.default_rng()
        self._clock = clock

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: sa.Engine,
        consent: ConsentPolicy,
        cipher: PiiCipher,
        *,
        owner: str | None = None,
        rng: np.random.Generator | None = None,
    ) -> Outbox:
        """The outbox with the webhook and SMTP channels and the retry policy of ``settings``."""
        timeout = settings.delivery_timeout_seconds
        senders: dict[str, Sender] = {
            "webhook": WebhookSender(settings.webhook_secret.get_secret_value().encode(), timeout),
            "email": SmtpSender(smtp_config(settings)),
        }
        return cls(
            engine,
            consent,
            cipher,
            senders,
            max_attempts=settings.outbox_max_attempts,
            backoff_base_seconds=settings.outbox_backoff_seconds,
            backoff_max_seconds=settings.outbox_backoff_max_seconds,
            lease_seconds=max(LEASE_FLOOR_SECONDS, LEASE_TIMEOUTS * timeout),
            owner=owner,
            rng=rng,
        )

    @property
    def owner(self) -> str:
        return self._owner

    def _now(self, now: float | None = None) -> int:
        return int((self._clock() if now is None else now) * 1000)

    # -- enqueue ---------------------------------------------------------------------------

    def enqueue(self, conn: sa.Connection, message: Message, now: float | None = None) -> Enqueued:
        """Add ``message`` on ``conn``, in the caller's transaction (committed with it).

        Raises :class:`~shopwise.errors.InvalidInput` (naming the field) for a message no
        channel could send. A key already stored adds nothing (``created`` is false).
        """
        check_message(message)
        at = self._now(now)
        destination = message.destination
        if message.channel == "email":
            destination = self._cipher.seal("email", destination)
        row = {
            "id": uuid.uuid4().hex,
            "idempotency_key": message.idempotency_key,
            "channel": message.channel,
            "kind": message.kind,
            "purpose": message.purpose,
            "destination": destination,
            "payload": self._cipher.seal_json(dict(message.payload)),
            "profile_id": message.profile_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": max(at, message.send_after or 0),
            "created_at": at,
            "updated_at": at,
        }
        insert = insert_once(conn.engine, outbox_messages, "idempotency_key").values(**row)
        inserted = conn.execute(insert.returning(outbox_messages.c.id)).scalar()
        if inserted is not None:
            return Enqueued(str(inserted), created=True)
        stored = sa.select(outbox_messages.c.id).where(
            outbox_messages.c.idempotency_key == message.idempotency_key
        )
        return Enqueued(conn.execute(stored).scalar_one(), created=False)

    # -- dispatch --------------------------------------------------------------------------

    def dispatch_due(self, now: float | None = None, limit: int = BATCH) -> DispatchSummary:
        """Send the messages due at ``now`` (epoch seconds; the clock's by default), one claim
        at a time, at most ``limit``; what happened to them."""
        summary = DispatchSummary(expired=self._expire(self._now(now)))
        while summary.claimed < limit:
            at = self._now(now)
            row = self._claim(at)
            if row is None:
                break
            summary.claimed += 1
            outcome = self._attempt(row, at)
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        return summary

    def _due(self, now: int) -> sa.ColumnElement[bool]:
        table = outbox_messages.c
        waiting = table.status.in_((PENDING, FAILED)) & (table.next_attempt_at <= now)
        lapsed = (
            (table.status == SENDING)
            & (table.lease_expires_at < now)
            & (table.attempts < self._max_attempts)
        )
        return waiting | lapsed

    def _claim(self, now: int) -> sa.Row[Any] | None:
        """Take the oldest due message under a lease; ``None`` when none is due."""
        candidates = (
            sa.select(outbox_messages.c.id)
            .where(self._due(now))
            .order_by(outbox_messages.c.next_attempt_at, outbox_messages.c.id)
            .limit(CANDIDATES)
        )
        with write_transaction(self._engine) as conn:
            while ids := conn.execute(candidates).scalars().all():
                # on PostgreSQL another dispatcher may take these first: each statement sees
                # its commits, so the next round reads the messages still due
                for message_id in ids:
                    if self._take(conn, message_id, now):
                        query = sa.select(outbox_messages).where(outbox_messages.c.id == message_id)
                        return conn.execute(query).one()
        return None

    def _take(self, conn: sa.Connection, message_id: str, now: int) -> bool:
        """Lease ``message_id`` if it is still due (the update's condition decides races)."""
        taken = conn.execute(
            outbox_messages.update()
            .where(outbox_messages.c.id == message_id, self._due(now))
            .values(
                status=SENDING,
                lease_owner=self._owner,
                lease_expires_at=now + self._lease_ms,
                attempts=outbox_messages.c.attempts + 1,
                updated_at=now,
            )
        ).rowcount
        return bool(taken)

    def _expire(self, now: int) -> int:
        """Mark dead the ``sending`` messages whose lease lapsed after their last attempt."""
        table = outbox_messages.c
        lapsed = (
            (table.status == SENDING)
            & (table.lease_expires_at < now)
            & (table.attempts >= self._max_attempts)
        )
        with write_transaction(self._engine) as conn:
            return (
                conn.execute(
                    outbox_messages.update()
                    .where(lapsed)
                    .values(
                        status=DEAD,
                        lease_owner=None,
                        lease_expires_at=None,
                        updated_at=now,
                        last_error="the lease of the last attempt lapsed (its dispatcher stopped)",
                    )
                ).rowcount
                or 0
            )

    def _attempt(self, row: sa.Row[Any], now: int) -> str:
        """Check consent, send ``row`` and record the result; the summary field it counts in."""
        started = time.perf_counter()
        refusal = self._refusal(row)
        if refusal is not None:
            delivery = Delivery("dead", error=refusal)
            self._record(row, now, SUPPRESSED, delivery, 0.0)
            return "suppressed"
        sender = self._senders.get(row.channel)
        if sender is None:
            delivery = Delivery("retry", error=f"no sender for channel {row.channel!r}")
        else:
            delivery = sender.send(self._outgoing(row))
        elapsed = (time.perf_counter() - started) * 1000
        status = self._status_after(row, delivery)
        self._record(row, now, status, delivery, elapsed)
        if status != DELIVERED:
            log.warning(
                "outbox delivery failed",
                extra={"message_id": row.id, "status": status, "error": delivery.error},
            )
        return {DELIVERED: "delivered", FAILED: "retrying", DEAD: "dead"}[status]

    def _status_after(self, row: sa.Row[Any], delivery: Delivery) -> str:
        if delivery.outcome == "delivered":
            return DELIVERED
        if delivery.outcome == "dead" or row.attempts >= self._max_attempts:
            return DEAD
        return FAILED

    def _outgoing(self, row: sa.Row[Any]) -> Outgoing:
        return Outgoing(
            id=row.id,
            idempotency_key=row.idempotency_key,
            kind=row.kind,
            destination=str(self._cipher.open(row.destination)),
            payload=self._cipher.open_json(row.payload),
            created_at=row.created_at,
        )

    def _refusal(self, row: sa.Row[Any]) -> str | None:
        """Why the message may not be sent now (its person's consent), or ``None``."""
        if row.profile_id is None:
            return None
        still = sa.select(outbox_messages.c.id).where(outbox_messages.c.id == row.id)
        with self._engine.connect() as conn:
            if conn.execute(still).first() is None:
                return "erased before it was sent"
            choices = _consent_of(conn, row.profile_id)
        if self._consent.allows(choices, row.purpose):
            return None
        return f"no {row.purpose} consent at send time"

    def _record(
        self, row: sa.Row[Any], now: int, status: str, delivery: Delivery, elapsed_ms: float
    ) -> None:
        """Write the attempt's result under this dispatcher's lease, and log the attempt
        unless the message was erased meanwhile."""
        values: dict[str, Any] = {
            "status": status,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": now,
            "last_error": delivery.error,
        }
        if status == DELIVERED:
            values["delivered_at"] = now
        if status == FAILED:
            wait = backoff_seconds(row.attempts, *self._backoff, self._rng)
            values["next_attempt_at"] = now + int(wait * 1000)
        mine = (
            (outbox_messages.c.id == row.id)
            & (outbox_messages.c.lease_owner == self._owner)
            & (outbox_messages.c.status == SENDING)
        )
        exists = sa.select(outbox_messages.c.id).where(outbox_messages.c.id == row.id)
        with write_transaction(self._engine) as conn:
            if not conn.execute(outbox_messages.update().where(mine).values(**values)).rowcount:
                log.warning("outbox lease lost before recording", extra={"message_id": row.id})
                if conn.execute(exists).first() is None:
                    return
            conn.execute(
                outbox_attempts.insert().values(
                    message_id=row.id,
                    profile_id=row.profile_id,
                    attempt=row.attempts,
                    worker=self._owner,
                    started_at=now,
                    duration_ms=elapsed_ms,
                    outcome=status,
                    status_code=delivery.status_code,
                    reply=delivery.reply,
                    error=delivery.error,
                )
            )

    # -- reading ---------------------------------------------------------------------------

    def message(self, message_id: str) -> dict[str, Any] | None:
        """One message's state (destination and payload left sealed), or ``None``."""
        query = sa.select(outbox_messages).where(outbox_messages.c.id == message_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else dict(row)

    def attempts(self, message_id: str) -> list[dict[str, Any]]:
        """The delivery log of one message, oldest attempt first."""
        query = (
            sa.select(outbox_attempts)
            .where(outbox_attempts.c.message_id == message_id)
            .order_by(outbox_attempts.c.id)
        )
        with self._engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]


def _consent_of(conn: sa.Connection, profile_id: str) -> Choices:
    """The consent choices of ``profile_id``'s canonical profile (merges followed); ``{}`` for a
    profile the store does not hold."""
    query = sa.select(profiles.c.merged_into, profiles.c.state)
    for _ in range(MERGE_HOPS):
        row = conn.execute(query.where(profiles.c.profile_id == profile_id)).first()
        if row is None:
            return {}
        if row.merged_into is None:
            choices: Choices = (row.state or {}).get("consent") or {}
            return choices
        profile_id = row.merged_into
    return {}


def smtp_config(settings: Settings) -> SmtpConfig:
    """The email channel's server and sender from the ``SHOPWISE_SMTP_*`` settings."""
    password = settings.smtp_password
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.smtp_starttls,
        user=settings.smtp_user,
        password=None if password is None else password.get_secret_value(),
        sender=settings.smtp_from,
        timeout_seconds=settings.delivery_timeout_seconds,
    )
