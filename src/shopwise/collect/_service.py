"""The ingestion service: validate, sessionise, group-commit, publish; API- and CLI-independent."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import orjson
import sqlalchemy as sa

from shopwise.auth import KeyKind
from shopwise.collect._minimize import Minimizer
from shopwise.collect._sessions import Sessionizer
from shopwise.collect._validate import DECLARED_ONLY, Rejection, validate_event
from shopwise.collect._writer import GroupCommitWriter, WriteOutcome
from shopwise.errors import InvalidInput, PayloadTooLarge
from shopwise.schema import Columns
from shopwise.store import api_keys, dead_letters, write_transaction

MAX_BATCH_EVENTS: Final = 500
MAX_BATCH_BYTES: Final = 512 * 1024


@dataclass(frozen=True)
class IngestResult:
    """The answer to one batch: counts, and each rejected event with its reason."""

    accepted: int
    duplicates: int
    rejected: list[Rejection] = field(default_factory=list)
    last_event_id: int = 0
    suppressed: int = 0
    """Valid events of erased people, dropped (see :data:`Suppressed`)."""

    def public(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [r.public() for r in self.rejected],
            "suppressed": self.suppressed,
        }


Suppressed = Callable[[str | None, str | None], bool]
"""Whether an event with these (anonymous, user) ids belongs to an erased person: such events are
dropped at ingestion, never stored (``shopwise.privacy.Suppression``)."""


IDENTITY: Final = "identity"
"""The context field where the collector records whether an event's user id is proven: set on
every stored event with a user id, by the server (a client cannot send it)."""
VERIFIED: Final = "verified"
"""The user id came from a secret or admin key, the operator's CLI, or with a valid
``user_hash``."""
CLAIMED: Final = "claimed"
"""The user id came from a write key without a valid ``user_hash``: it links ids for analytics,
but unlocks no profile data and overwrites no verified trait."""
UNVERIFIED_USER: Final = "unverified_user"
"""The rejection code of a write key's unproven user id when verification is required."""


class IdentityCheck(Protocol):
    """Checks ``user_hash`` values (``shopwise.profiles.IdentityVerifier``)."""

    required: bool
    """Whether a write key's user id without a valid hash is refused (else stored claimed)."""

    def verifies(self, user_id: str, given: str | None) -> bool:
        """Whether ``given`` is the user hash of ``user_id``."""
        ...


class NoHashes:
    """An :class:`IdentityCheck` without a secret: no hash verifies, nothing is required (for
    collectors built without the settings, such as the ingestion benchmark's)."""

    required = False

    def verifies(self, user_id: str, given: str | None) -> bool:
        return False


def _keep_all(_anonymous_id: str | None, _user_id: str | None) -> bool:
    return False


class Sealer(Protocol):
    """Seals the PII inside events before they are stored, and opens it for readers
    (``shopwise.privacy.PiiCipher``)."""

    def seal_properties(self, properties: dict[str, Any]) -> dict[str, Any]:
        """An event's properties with its PII sealed."""
        ...

    def seal_text(self, text: str) -> str:
        """JSON text (a dead letter as received) with its PII sealed."""
        ...

    def open_text(self, text: str) -> str:
        """Sealed JSON text opened again."""
        ...


class Clear:
    """A :class:`Sealer` that seals nothing: for collectors built without a store's keys (the
    ingestion benchmark's bare pipeline)."""

    def seal_properties(self, properties: dict[str, Any]) -> dict[str, Any]:
        return properties

    def seal_text(self, text: str) -> str:
        return text

    def open_text(self, text: str) -> str:
        return text


def parse_batch(body: bytes) -> list[Any]:
    """The events of a ``{"batch": [...]}`` request body, within the request limits."""
    if len(body) > MAX_BATCH_BYTES:
        raise PayloadTooLarge(f"request body is {len(body)} bytes; limit {MAX_BATCH_BYTES}")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", code="malformed_json") from None
    if not isinstance(payload, dict) or set(payload) != {"batch"}:
        raise InvalidInput(
            "body must be an object with exactly one field, 'batch'", code="invalid_batch"
        )
    batch = payload["batch"]
    if not isinstance(batch, list):
        raise InvalidInput("batch: must be an array of events", code="invalid_batch")
    if len(batch) > MAX_BATCH_EVENTS:
        raise PayloadTooLarge(f"batch: {len(batch)} events; limit {MAX_BATCH_EVENTS}")
    return batch


def _now_ms() -> int:
    return int(time.time() * 1000)


def _dead_row(
    rejection: Rejection, received: int, key_id: str | None, sealer: Sealer
) -> dict[str, Any]:
    return {
        Columns.RECEIVED: received,
        "key_id": key_id,
        "fingerprint": hashlib.sha256(rejection.raw.encode()).hexdigest(),
        "raw": sealer.seal_text(rejection.raw),
        "code": rejection.code,
        "message": rejection.message,
    }


def _raw_text(raw: Any) -> str:
    return orjson.dumps(raw, default=str).decode()


@dataclass
class _Prepared:
    """A batch checked: rows to store, rejections and their dead letters, events suppressed."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)
    """Each row's index in the batch, for the answer when the store refuses the row."""
    rejected: list[Rejection] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)
    suppressed: int = 0


class Collector:
    """Accepts event batches: every valid event is stored once (minimized by ``minimizer``),
    every invalid one dead-lettered, and the events of erased people dropped."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        sessionizer: Sessionizer,
        suppressed: Suppressed = _keep_all,
        minimizer: Minimizer = DECLARED_ONLY,
        sealer: Sealer | None = None,
        identity: IdentityCheck | None = None,
    ) -> None:
        self._writer = writer
        self._sessions = sessionizer
        self._suppressed = suppressed
        self._minimizer = minimizer
        self.sealer = sealer or Clear()
        self.identity: IdentityCheck = identity or NoHashes()
        """Checks user hashes for this collector and for the serving routes of write keys."""
        self._observers: list[Callable[[IngestResult], None]] = []

    def observe(self, observer: Callable[[IngestResult], None]) -> None:
        """Have ``observer`` told the result of every batch from now on (the API's metrics).
        It runs on the ingestion path, after the commit: it must be quick and must not raise."""
        self._observers.append(observer)

    def _told(self, result: IngestResult) -> IngestResult:
        for observer in self._observers:
            observer(result)
        return result

    def _verdict(self, raw: dict[str, Any], user_id: str, kind: KeyKind | None) -> str | None:
        """:data:`VERIFIED` or :data:`CLAIMED` for an event's user id, ``None`` when refused."""
        if kind is None or kind != KeyKind.WRITE:
            return VERIFIED
        if self.identity.verifies(user_id, raw.get("user_hash")):
            return VERIFIED
        return None if self.identity.required else CLAIMED

    def _prepare(self, batch: Sequence[Any], key_id: str | None, kind: KeyKind | None) -> _Prepared:
        received = _now_ms()
        prepared = _Prepared()
        for index, raw in enumerate(batch):
            result = validate_event(raw, index, received, self._minimizer)
            if isinstance(result, Rejection):
                prepared.rejected.append(result)
            elif self._suppressed(result[Columns.ANONYMOUS], result[Columns.USER]):
                prepared.suppressed += 1
            elif (user_id := result[Columns.USER]) is not None and (
                verdict := self._verdict(raw, user_id, kind)
            ) is None:
                prepared.rejected.append(_unverified(index, raw))
            else:
                if user_id is not None:
                    result[Columns.CONTEXT][IDENTITY] = verdict
                result["key_id"] = key_id
                result[Columns.PROPERTIES] = self.sealer.seal_properties(result[Columns.PROPERTIES])
                prepared.rows.append(result)
                prepared.indexes.append(index)
        self._sessions.assign(prepared.rows)
        prepared.dead = [_dead_row(r, received, key_id, self.sealer) for r in prepared.rejected]
        return prepared

    @staticmethod
    def _result(outcome: WriteOutcome, prepared: _Prepared) -> IngestResult:
        last = outcome.stored[-1].id if outcome.stored else 0
        refused = [
            Rejection(prepared.indexes[r.position], r.code, r.message, "") for r in outcome.refused
        ]
        rejected = sorted([*prepared.rejected, *refused], key=lambda r: r.index)
        return IngestResult(
            len(outcome.stored), outcome.duplicates, rejected, last, prepared.suppressed
        )

    def ingest(
        self, batch: Sequence[Any], key_id: str | None = None, kind: KeyKind | None = None
    ) -> IngestResult:
        """Validate and store ``batch``; returns after the accepted events are committed.

        ``kind`` is the kind of the request's key (``None``: the operator, through the CLI): a
        write key's user ids are stored claimed unless they come with a valid ``user_hash``.
        """
        prepared = self._prepare(batch, key_id, kind)
        if not prepared.rows and not prepared.dead:
            return self._told(IngestResult(0, 0, suppressed=prepared.suppressed))
        outcome = self._writer.submit(prepared.rows, prepared.dead).result()
        return self._told(self._result(outcome, prepared))

    def enqueue_system(self, rows: list[dict[str, Any]]) -> None:
        """Queue rows of events shopwise made itself (:func:`system_row`) for the next group
        commit, without validating them again and without waiting. The commit listeners (online
        state, profile cache, bus wake-up) do not hear of them: they skip such events anyway;
        the bus consumers still pass over them at their next poll."""
        received = _now_ms()
        for row in rows:
            row[Columns.RECEIVED] = received
            row["key_id"] = None
        self._sessions.assign(rows)
        self._writer.submit(rows, [], heard=False)

    async def ingest_async(
        self, batch: Sequence[Any], key_id: str | None = None, kind: KeyKind | None = None
    ) -> IngestResult:
        """:meth:`ingest` for the event loop: waits for the group commit without blocking it."""
        prepared = self._prepare(batch, key_id, kind)
        if not prepared.rows and not prepared.dead:
            return self._told(IngestResult(0, 0, suppressed=prepared.suppressed))
        outcome = await asyncio.wrap_future(self._writer.submit(prepared.rows, prepared.dead))
        return self._told(self._result(outcome, prepared))


def _unverified(index: int, raw: dict[str, Any]) -> Rejection:
    return Rejection(
        index,
        UNVERIFIED_USER,
        "user_id: a write key's user id needs a valid user_hash "
        "(SHOPWISE_IDENTITY_VERIFICATION is required)",
        _raw_text(raw),
    )


@dataclass(frozen=True)
class DeadLetter:
    id: int
    received_at: int
    key_id: str | None
    fingerprint: str
    code: str
    message: str
    raw: str
    replayed_at: int | None


@dataclass(frozen=True)
class ReplayResult:
    replayed: int
    still_invalid: int
    duplicates: int


class DeadLetters:
    """Lists dead letters and replays them through the collector once the cause is fixed."""

    def __init__(self, engine: sa.Engine, collector: Collector) -> None:
        self._engine = engine
        self._collector = collector

    def list(self, include_replayed: bool = False, limit: int = 100) -> list[DeadLetter]:
        """Dead letters, oldest first, their raw payload opened as it was received."""
        query = sa.select(dead_letters).order_by(dead_letters.c.id).limit(limit)
        if not include_replayed:
            query = query.where(dead_letters.c.replayed_at.is_(None))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        opened = self._collector.sealer.open_text
        return [DeadLetter(**{**row._mapping, "raw": opened(row.raw)}) for row in rows]

    def replay(self, limit: int = 10_000) -> ReplayResult:
        """Re-validate pending dead letters; the ones now valid are ingested and marked replayed.

        Ones still invalid stay pending (their reason is updated) and are not duplicated.
        """
        pending = self.list(limit=limit)
        kinds = self._kinds({letter.key_id for letter in pending if letter.key_id is not None})
        replayed = duplicates = still_invalid = 0
        received = _now_ms()
        for letter in pending:
            result = validate_event(orjson.loads(letter.raw), 0, received)
            if isinstance(result, Rejection):
                still_invalid += 1
                self._update(letter.id, code=result.code, message=result.message)
                continue
            # a replay vouches for a user id no more than the key that sent it did
            kind = kinds.get(letter.key_id, KeyKind.WRITE) if letter.key_id else None
            outcome = self._collector.ingest([orjson.loads(letter.raw)], letter.key_id, kind)
            replayed += outcome.accepted
            duplicates += outcome.duplicates
            self._update(letter.id, replayed_at=_now_ms())
        return ReplayResult(replayed, still_invalid, duplicates)

    def _kinds(self, key_ids: set[str]) -> dict[str | None, KeyKind]:
        """The kinds of the keys that sent dead letters (revoked ones included)."""
        if not key_ids:
            return {}
        query = sa.select(api_keys.c.id, api_keys.c.kind).where(api_keys.c.id.in_(key_ids))
        with self._engine.connect() as conn:
            return {row.id: KeyKind(row.kind) for row in conn.execute(query)}

    def _update(self, letter_id: int, **values: Any) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(
                dead_letters.update().where(dead_letters.c.id == letter_id).values(**values)
            )
