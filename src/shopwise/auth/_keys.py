"""API keys: three kinds with fixed scopes, stored as SHA-256 hashes, verified with a short cache.

A key is ``sw_<kind>_<id>_<secret>``: the id names the key in listings and logs, the secret has 192
bits of entropy, and only the hash of the whole key is stored, so a leaked database reveals no key.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa

from shopwise.audit import AuditLog
from shopwise.errors import AuthError, Forbidden, InvalidInput, NotFound
from shopwise.periodic import Periodic
from shopwise.store import api_keys, write_transaction


class KeyKind(StrEnum):
    WRITE = "write"
    """Public: may only send events (safe to ship in a browser)."""
    SECRET = "secret"
    """Server to server: reads and writes."""
    ADMIN = "admin"
    """Management: keys, rules, models."""


class Scope(StrEnum):
    EVENTS_WRITE = "events:write"
    RECOMMEND_OWN = "recommend:own"
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


SCOPES: dict[KeyKind, frozenset[Scope]] = {
    KeyKind.WRITE: frozenset({Scope.EVENTS_WRITE, Scope.RECOMMEND_OWN}),
    KeyKind.SECRET: frozenset({Scope.EVENTS_WRITE, Scope.RECOMMEND_OWN, Scope.READ, Scope.WRITE}),
    KeyKind.ADMIN: frozenset(Scope),
}


@dataclass(frozen=True)
class ApiKey:
    """A key as listed (never the secret)."""

    id: str
    kind: KeyKind
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def scopes(self) -> frozenset[Scope]:
        return SCOPES[self.kind]

    def require(self, scope: Scope) -> None:
        """Raise :class:`Forbidden` unless this key grants ``scope``."""
        if scope not in self.scopes:
            raise Forbidden(f"a {self.kind} key may not do this (needs scope {scope})")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _row_to_key(row: sa.Row[tuple[str, str, str, datetime, datetime | None]]) -> ApiKey:
    return ApiKey(
        id=row.id,
        kind=KeyKind(row.kind),
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


MAX_CACHED = 10_000
"""Most verified (or refused) keys a :class:`KeyService` remembers at once."""

WATCH_SECONDS = 0.5
"""How often a started :class:`KeyService` looks for revocations made by other processes."""

log = logging.getLogger("shopwise.auth")


class KeyService:
    """Create, list, revoke and verify API keys.

    Verified keys are cached for ``cache_seconds`` so the serving path does not query the store on
    every request. What invalidates the cache: a revocation made through this instance, at once;
    one made by another process (another ``shopwise serve`` or the CLI over the same store), at
    the next check of the revocation marker (the count and latest time of revocations in
    ``api_keys``), which the thread run from :meth:`start` reads every ``watch_seconds``; without
    that thread, after ``cache_seconds``. Like the store, the cache is keyed by the key's hash, so
    no key is kept in plain text, and it holds at most ``MAX_CACHED`` keys, so a flood of made-up
    keys cannot grow it.
    """

    def __init__(
        self,
        engine: sa.Engine,
        audit: AuditLog,
        cache_seconds: float = 5.0,
        watch_seconds: float = WATCH_SECONDS,
    ) -> None:
        self._engine = engine
        self._audit = audit
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        """Bumped whenever entries are dropped: a key loaded before a drop is not cached after it
        (it may have been read just before the revocation committed)."""
        self._marker: tuple[int, datetime | None] | None = None
        self._watch = Periodic("key-revocation-watch", watch_seconds, self.watch)
        self.watch_errors = 0
        """Failed revocation checks since this service was made."""

    def start(self) -> None:
        """Watch for revocations made by other processes (see the class docstring)."""
        self._watch.start()

    def stop(self) -> None:
        self._watch.stop()

    def watch(self) -> bool:
        """Drop cached keys revoked elsewhere if the revocation marker moved; ``True`` if it did.

        A failed read (the store unreachable) drops every cached key, so none outlives a
        revocation this process could not see; it is logged and counted in :attr:`watch_errors`.
        """
        try:
            marker = self._read_marker()
            if marker == self._marker:
                return False
            revoked = self._revoked_ids()
        except sa.exc.SQLAlchemyError:  # boundary: fall back to verifying against the store
            self.watch_errors += 1
            log.warning("could not read key revocations; key cache dropped", exc_info=True)
            self._drop(lambda _key: True)
            return False
        self._drop(lambda key: key.id in revoked)
        self._marker = marker
        return True

    def _read_marker(self) -> tuple[int, datetime | None]:
        query = sa.select(sa.func.count(api_keys.c.revoked_at), sa.func.max(api_keys.c.revoked_at))
        with self._engine.connect() as conn:
            count, latest = conn.execute(query).one()
        return int(count), latest

    def _revoked_ids(self) -> set[str]:
        query = sa.select(api_keys.c.id).where(api_keys.c.revoked_at.is_not(None))
        with self._engine.connect() as conn:
            return set(conn.scalars(query))

    def _drop(self, revoked: Callable[[ApiKey], bool]) -> None:
        with self._lock:
            self._generation += 1
            self._cache = {
                digest: entry
                for digest, entry in self._cache.items()
                if entry[1] is not None and not revoked(entry[1])
            }

    def create(
        self, kind: KeyKind, name: str | None = None, actor: str = "cli"
    ) -> tuple[ApiKey, str]:
        """A new key and its plaintext, which is shown once and never stored; audited as made
        by ``actor``."""
        key_id = secrets.token_hex(6)
        plaintext = f"sw_{kind}_{key_id}_{secrets.token_urlsafe(24)}"
        created = datetime.now(UTC)
        label = name or f"{kind} key {key_id}"
        with write_transaction(self._engine) as conn:
            conn.execute(
                api_keys.insert().values(
                    id=key_id,
                    kind=str(kind),
                    name=label,
                    key_hash=_hash(plaintext),
                    created_at=created,
                )
            )
        self._audit.record(actor, "key.created", key_id, {"kind": str(kind)})
        return ApiKey(key_id, kind, label, created, None), plaintext

    def list(self, include_revoked: bool = False) -> list[ApiKey]:
        query = sa.select(api_keys).order_by(api_keys.c.created_at)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self._engine.connect() as conn:
            return [_row_to_key(row) for row in conn.execute(query)]

    def revoke(self, key_id: str, actor: str = "cli") -> ApiKey:
        """Revoke a key (audited as done by ``actor``); requests with it are refused at once here
        and, in other processes, at their next revocation check (see the class docstring)."""
        now = datetime.now(UTC)
        with write_transaction(self._engine) as conn:
            result = conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if result.rowcount == 0:
                raise NotFound(f"no active API key with id {key_id!r}")
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).one()
        self._drop(lambda key: key.id == key_id)
        self._audit.record(actor, "key.revoked", key_id)
        return _row_to_key(row)

    def verify(self, plaintext: str) -> ApiKey:
        """The active key behind ``plaintext``, or :class:`AuthError`."""
        if not plaintext.startswith("sw_"):
            raise AuthError("malformed API key")
        now = time.monotonic()
        digest = _hash(plaintext)
        cached = self._cache.get(digest)  # atomic; writes take the lock
        if cached is None or now - cached[0] > self._cache_seconds:
            generation = self._generation
            cached = (now, self._load(digest))
            with self._lock:
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
                if generation == self._generation:
                    self._cache[digest] = cached
        key = cached[1]
        if key is None:
            raise AuthError("unknown or revoked API key")
        return key

    def _load(self, digest: str) -> ApiKey | None:
        query = sa.select(api_keys).where(
            api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _row_to_key(row)


def parse_kind(value: str) -> KeyKind:
    try:
        return KeyKind(value)
    except ValueError:
        raise InvalidInput(
            f"kind must be one of {', '.join(k.value for k in KeyKind)}, not {value!r}",
            code="invalid_kind",
        ) from None
