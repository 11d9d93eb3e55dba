"""API keys: three kinds with fixed scopes, stored as SHA-256 hashes, verified with a short cache.

A key is ``sw_<kind>_<id>_<secret>``: the id names the key in listings and logs, the secret has 192
bits of entropy, and only the hash of the whole key is stored, so a leaked database reveals no key.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa

from shopwise.audit import AuditLog
from shopwise.errors import AuthError, Forbidden, InvalidInput, NotFound
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


class KeyService:
    """Create, list, revoke and verify API keys.

    Verified keys are cached for ``cache_seconds`` so the serving path does not query the store on
    every request; a revocation made through this instance takes effect at once, one made by another
    process within ``cache_seconds``. Like the store, the cache is keyed by the key's hash, so no
    key is kept in plain text, and it holds at most ``MAX_CACHED`` keys, so a flood of made-up keys
    cannot grow it.
    """

    def __init__(self, engine: sa.Engine, audit: AuditLog, cache_seconds: float = 5.0) -> None:
        self._engine = engine
        self._audit = audit
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

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
        and within ``cache_seconds`` in other processes."""
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
        with self._lock:
            self._cache.clear()
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
            cached = (now, self._load(digest))
            with self._lock:
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
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
