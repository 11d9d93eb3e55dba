"""Versioned, validated, hot-reloaded rule sets and content sets.

Every ``PUT`` stores a new version after validation; the newest version of each kind is live.
Readers keep the parsed live version and look for a newer one at most every ``check_seconds``, so
a change made by any process reaches every server within that delay (at once in the writer's).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Generic, Literal, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel

from shopwise.decide._content import ContentSet
from shopwise.decide._rules import RuleSet, parse_yaml
from shopwise.store import rule_sets, write_transaction

Kind = Literal["rules", "content", "triggers"]
T = TypeVar("T", bound=BaseModel)

_DEFAULTS: dict[Kind, str] = {"rules": "defaults.yaml", "content": "default_content.yaml"}

MISS_SECONDS = 30.0
"""How long :meth:`VersionedStore.get` answers a version it did not find as missing before it
queries the store again (a version that does not exist yet may be stored later)."""


@dataclass(frozen=True)
class Versioned(Generic[T]):
    version: int
    """0 for the shipped defaults."""
    body: str
    value: T


def default_text(kind: Kind) -> str:
    return resources.files("shopwise.decide").joinpath(_DEFAULTS[kind]).read_text()


class VersionedStore(Generic[T]):
    """One kind of versioned YAML document (see module docstring)."""

    def __init__(
        self,
        engine: sa.Engine,
        kind: Kind,
        model: type[T],
        check_seconds: float = 1.0,
        miss_seconds: float = MISS_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        defaults: Callable[[], str] | None = None,
    ) -> None:
        self._engine = engine
        self._defaults = defaults or (lambda: default_text(kind))
        """The text of version 0 (a kind of another package ships its own file)."""
        self._kind = kind
        self._model = model
        self._check = check_seconds
        self._live: Versioned[T] | None = None
        self._checked_at = -float("inf")
        self._lock = threading.Lock()
        self._stored: dict[int, Versioned[T]] = {}
        """Versions read by :meth:`get`: a stored version never changes."""
        self._miss_seconds = miss_seconds
        self._clock = clock
        self._missing: dict[int, float] = {}
        """Versions :meth:`get` did not find, with the time until which it does not look again."""

    def live(self) -> Versioned[T]:
        now = time.monotonic()
        if self._live is not None and now - self._checked_at < self._check:
            return self._live
        with self._lock:
            newest = self._newest_version()
            if self._live is None or newest != self._live.version:
                self._live = self._load(newest)
            self._checked_at = now
            return self._live

    def get(self, version: int) -> Versioned[T] | None:
        """Stored ``version`` of this kind (0: the shipped defaults), ``None`` when there is no
        such version; each is read and parsed once (the live one is shared with :meth:`live`),
        and a version not found is answered ``None`` for ``miss_seconds`` without a query.

        Raises
        ------
        sqlalchemy.exc.SQLAlchemyError
            When the store cannot be read.
        """
        live = self._live
        if live is not None and live.version == version:
            return live
        known = self._stored.get(version)
        if known is not None:
            return known
        if self._clock() < self._missing.get(version, -float("inf")):
            return None
        if version == 0:
            body: str | None = self._defaults()
        else:
            query = sa.select(rule_sets.c.body).where(
                rule_sets.c.version == version, rule_sets.c.kind == self._kind
            )
            with self._engine.connect() as conn:
                body = conn.execute(query).scalar_one_or_none()
        if body is None:
            with self._lock:
                self._missing[version] = self._clock() + self._miss_seconds
            return None
        loaded = Versioned(version, body, parse_yaml(body, self._model))
        with self._lock:
            return self._stored.setdefault(version, loaded)

    def put(self, body: str, key_id: str | None) -> Versioned[T]:
        value = parse_yaml(body, self._model)
        with write_transaction(self._engine) as conn:
            version = conn.execute(
                rule_sets.insert()
                .values(
                    kind=self._kind, body=body, key_id=key_id, created_at=int(time.time() * 1000)
                )
                .returning(rule_sets.c.version)
            ).scalar_one()
        with self._lock:
            self._live = Versioned(int(version), body, value)
            self._checked_at = time.monotonic()
            self._missing.pop(self._live.version, None)
        return self._live

    def history(self, limit: int = 20) -> list[dict[str, int | str | None]]:
        query = (
            sa.select(rule_sets.c.version, rule_sets.c.key_id, rule_sets.c.created_at)
            .where(rule_sets.c.kind == self._kind)
            .order_by(rule_sets.c.version.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def _newest_version(self) -> int:
        query = sa.select(sa.func.max(rule_sets.c.version)).where(rule_sets.c.kind == self._kind)
        try:
            with self._engine.connect() as conn:
                return int(conn.execute(query).scalar_one_or_none() or 0)
        except sa.exc.SQLAlchemyError:
            return self._live.version if self._live is not None else 0

    def _load(self, version: int) -> Versioned[T]:
        if version == 0:
            body = self._defaults()
        else:
            with self._engine.connect() as conn:
                body = conn.execute(
                    sa.select(rule_sets.c.body).where(rule_sets.c.version == version)
                ).scalar_one()
        return Versioned(version, body, parse_yaml(body, self._model))


def rule_store(engine: sa.Engine) -> VersionedStore[RuleSet]:
    return VersionedStore(engine, "rules", RuleSet)


def content_store(engine: sa.Engine) -> VersionedStore[ContentSet]:
    return VersionedStore(engine, "content", ContentSet)
