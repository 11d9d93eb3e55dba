"""PII at rest: trait values flagged as personal data are stored encrypted, with AES-GCM.

Keys: random 256-bit data keys kept in ``data_keys``, each wrapped (AES-GCM) by a key derived
from ``SHOPWISE_SECRET_KEY`` with HKDF, so the store alone reveals nothing and the secret alone
holds no data. One data key is active; :meth:`PiiCipher.rotate` makes a new one active and
re-encrypts every stored value under it (``shopwise keys rotate-data-key``). A separate index key
makes keyed hashes (HMAC-SHA256) for exact-match lookups without decrypting (an email address)
and for the suppression list of erased ids; it is never rotated, for those hashes must stay
comparable.

A sealed value is a string token ``pii:1:<key id>:<nonce and ciphertext, base64url>``, followed
for lookup traits (email) by ``:<keyed hash>``; the plaintext is the value's JSON, so strings,
dates and address objects all round-trip. Sealing a token again leaves it as it is, so a replayed
dead letter or a re-read event is not encrypted twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shopwise.errors import ShopwiseError
from shopwise.schema import is_pii
from shopwise.store import data_keys, dead_letters, events, profiles, write_transaction

PREFIX: Final = "pii:1:"
_TOKEN: Final = re.compile(r"pii:1:\d+:[A-Za-z0-9_-]+(?::[0-9a-f]{64})?")
RESEAL_BATCH: Final = 1000
"""Rows re-sealed per transaction while rotating, so the write lock is held briefly."""
LOOKUP_TRAITS: Final = frozenset({"email"})
"""PII traits found by exact match (their token carries a keyed hash of the normalised value)."""
_AAD: Final = b"shopwise-pii"
_DATA, _INDEX = "data", "index"


class DataKeyError(ShopwiseError):
    """A sealed value whose data key is unknown, or a secret that cannot unwrap the keys."""

    code = "data_key"
    status = 500


@dataclass(frozen=True)
class _Keys:
    active: int
    data: dict[int, AESGCM]
    index: bytes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_token(value: Any) -> bool:
    """Whether ``value`` is a sealed value."""
    return isinstance(value, str) and value.startswith(PREFIX)


class PiiCipher:
    """Seals and opens PII trait values of one store (see module docstring)."""

    def __init__(self, engine: sa.Engine, secret: bytes) -> None:
        self._engine = engine
        self._wrap = AESGCM(
            HKDF(algorithm=hashes.SHA256(), length=32, salt=b"shopwise", info=b"kek").derive(secret)
        )
        self._keys: _Keys | None = None
        self._lock = threading.Lock()

    # -- keys -----------------------------------------------------------------------------

    def _loaded(self) -> _Keys:
        keys = self._keys
        if keys is None:
            with self._lock:
                if self._keys is None:
                    self._keys = self._load()
                keys = self._keys
        return keys

    def _load(self) -> _Keys:
        """The keys of the store, made on first use (one data key and the index key)."""
        with write_transaction(self._engine) as conn:
            rows = conn.execute(sa.select(data_keys).order_by(data_keys.c.id)).all()
            if not any(row.kind == _INDEX for row in rows):
                self._new_key(conn, _INDEX)
            if not any(row.kind == _DATA and row.retired_at is None for row in rows):
                self._new_key(conn, _DATA)
            rows = conn.execute(sa.select(data_keys).order_by(data_keys.c.id)).all()
        data = {
            row.id: AESGCM(self._unwrap(row.kind, row.id, row.wrapped))
            for row in rows
            if row.kind == _DATA
        }
        active = max(row.id for row in rows if row.kind == _DATA and row.retired_at is None)
        index = next(
            self._unwrap(row.kind, row.id, row.wrapped) for row in rows if row.kind == _INDEX
        )
        return _Keys(active, data, index)

    def _new_key(self, conn: sa.Connection, kind: str) -> int:
        key = os.urandom(32)
        now = int(time.time() * 1000)
        result = conn.execute(
            data_keys.insert().values(kind=kind, wrapped="", created_at=now, retired_at=None)
        )
        inserted = result.inserted_primary_key
        assert inserted is not None
        key_id = int(inserted[0])
        nonce = os.urandom(12)
        wrapped = _b64(nonce + self._wrap.encrypt(nonce, key, f"{kind}:{key_id}".encode()))
        conn.execute(data_keys.update().where(data_keys.c.id == key_id).values(wrapped=wrapped))
        return key_id

    def _unwrap(self, kind: str, key_id: int, wrapped: str) -> bytes:
        raw = _unb64(wrapped)
        try:
            return self._wrap.decrypt(raw[:12], raw[12:], f"{kind}:{key_id}".encode())
        except InvalidTag:
            raise DataKeyError(
                "SHOPWISE_SECRET_KEY cannot unwrap the store's data keys (was it changed?)"
            ) from None

    # -- values ---------------------------------------------------------------------------

    def seal(self, name: str, value: Any) -> Any:
        """``value`` of trait ``name`` sealed when the trait is PII (else as it is)."""
        if value is None or is_token(value) or not is_pii(name):
            return value
        keys = self._loaded()
        nonce = os.urandom(12)
        sealed = keys.data[keys.active].encrypt(nonce, orjson.dumps(value), _AAD)
        token = f"{PREFIX}{keys.active}:{_b64(nonce + sealed)}"
        if name in LOOKUP_TRAITS and isinstance(value, str):
            token += ":" + self.index(value)
        return token

    def open(self, value: Any) -> Any:
        """The plaintext of a sealed value (anything else as it is)."""
        if not is_token(value):
            return value
        keys = self._loaded()
        key_id, payload = value[len(PREFIX) :].split(":", 2)[:2]
        cipher = keys.data.get(int(key_id))
        if cipher is None:
            raise DataKeyError(f"no data key {key_id} for a sealed value")
        raw = _unb64(payload)
        return orjson.loads(cipher.decrypt(raw[:12], raw[12:], _AAD))

    def index(self, text: str) -> str:
        """The keyed hash of a lookup value (an email, trimmed and lower-cased) or an id."""
        normalised = text.strip().lower().encode()
        return hmac.new(self._loaded().index, normalised, hashlib.sha256).hexdigest()

    def key_hash(self, id_key: str) -> str:
        """The keyed hash of an identity key, exactly as given (the suppression list's)."""
        return hmac.new(self._loaded().index, id_key.encode(), hashlib.sha256).hexdigest()

    def seal_properties(self, properties: dict[str, Any]) -> dict[str, Any]:
        """An event's properties with the PII among its ``traits`` and ``refused_traits``
        sealed (the only places a stored event keeps traits)."""
        if "traits" not in properties and "refused_traits" not in properties:
            return properties
        return {key: self._sealed_member(key, item) for key, item in properties.items()}

    def seal_json(self, value: Any) -> Any:
        """A JSON value with the PII traits inside it sealed: every ``traits`` object (an
        event's properties, a raw Segment payload, its context) and ``refused_traits``."""
        if isinstance(value, Mapping):
            return {key: self._sealed_member(key, item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.seal_json(item) for item in value]
        return value

    def _sealed_member(self, key: str, item: Any) -> Any:
        if key == "traits" and isinstance(item, Mapping):
            return {name: self.seal(name, v) for name, v in item.items()}
        if key == "refused_traits" and isinstance(item, Mapping):
            return {
                name: {**entry, "value": self.seal(name, entry.get("value"))}
                if isinstance(entry, Mapping)
                else entry
                for name, entry in item.items()
            }
        return self.seal_json(item)

    def open_json(self, value: Any) -> Any:
        """A JSON value with every sealed value inside it opened."""
        if is_token(value):
            return self.open(value)
        if isinstance(value, Mapping):
            return {key: self.open_json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.open_json(item) for item in value]
        return value

    def seal_text(self, text: str) -> str:
        """JSON text (a dead letter as received) with its PII traits sealed; text that is not
        JSON is kept as it is."""
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
        return orjson.dumps(self.seal_json(value)).decode()

    def open_text(self, text: str) -> str:
        """JSON text with every sealed value in it opened (text that is not JSON as it is)."""
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
        return orjson.dumps(self.open_json(value)).decode()

    @property
    def active_key(self) -> int:
        return self._loaded().active

    # -- rotation -------------------------------------------------------------------------

    def rotate(self, progress: Callable[[str], None] = lambda _m: None) -> dict[str, int]:
        """Make a new data key active and re-seal every stored value under it.

        The old keys stay (wrapped) in the store: a process that has not reloaded its keys yet
        still seals with the old one, and those values stay readable until the next rotation.
        Returns the rows re-sealed per table.
        """
        with write_transaction(self._engine) as conn:
            now = int(time.time() * 1000)
            conn.execute(
                data_keys.update()
                .where(data_keys.c.kind == _DATA, data_keys.c.retired_at.is_(None))
                .values(retired_at=now)
            )
            self._new_key(conn, _DATA)
        self.reset()
        active = f"{PREFIX}{self.active_key}:"
        counts = {}
        for name, table, key, column in _SEALED_COLUMNS:
            progress(f"re-sealing {name}")
            counts[name] = self._reseal_column(table, key, column, active)
        return counts

    def _reseal_column(self, table: sa.Table, key: sa.Column[Any], column: str, active: str) -> int:
        """Re-seal, batch by batch, the values of ``column`` not sealed under the active key."""
        changed, after = 0, None
        sealed = sa.cast(table.c[column], sa.Text).like(f"%{PREFIX}%")
        while True:
            query = sa.select(key, table.c[column]).where(sealed).order_by(key).limit(RESEAL_BATCH)
            if after is not None:
                query = query.where(key > after)
            with write_transaction(self._engine) as conn:
                rows = conn.execute(query).all()
                for row_key, value in rows:
                    fresh = self._resealed(value, active)
                    if fresh != value:
                        conn.execute(table.update().where(key == row_key).values({column: fresh}))
                        changed += 1
            if len(rows) < RESEAL_BATCH:
                return changed
            after = rows[-1][0]

    def _resealed(self, value: Any, active: str) -> Any:
        """``value`` (JSON, or JSON text) with every token not under the active key re-sealed."""
        if isinstance(value, str) and not is_token(value):
            return _TOKEN.sub(lambda m: self._reseal(m.group(0), active), value)
        if is_token(value):
            return self._reseal(value, active)
        if isinstance(value, Mapping):
            return {k: self._resealed(v, active) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resealed(v, active) for v in value]
        return value

    def _reseal(self, token: str, active: str) -> str:
        if token.startswith(active):
            return token
        keys = self._loaded()
        nonce = os.urandom(12)
        plain = orjson.dumps(self.open(token))
        fresh = f"{active}{_b64(nonce + keys.data[keys.active].encrypt(nonce, plain, _AAD))}"
        lookup = token[len(PREFIX) :].split(":")
        return fresh + (":" + lookup[2] if len(lookup) == 3 else "")

    def reset(self) -> None:
        """Forget the loaded keys (another process rotated them)."""
        with self._lock:
            self._keys = None


def tokens(value: Any) -> Iterator[str]:
    """Every sealed value inside a JSON value."""
    if is_token(value):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from tokens(item)
    elif isinstance(value, list):
        for item in value:
            yield from tokens(item)


_SEALED_COLUMNS: Final = (
    ("profiles", profiles, profiles.c.profile_id, "state"),
    ("events", events, events.c.id, "properties"),
    ("dead_letters", dead_letters, dead_letters.c.id, "raw"),
)
"""Where sealed values are stored: table, its key column, the column holding them."""
