"""Change announcements through Redis pub/sub: one process's write reaches every process at once.

Every process keeps in memory what it read from the store: the catalog snapshot, the live rule
and content sets, verified API keys, and (until an erasure reaches it) a person's data in its
caches and champions. Each already polls the store for changes made elsewhere (the catalog every
``snapshot_seconds``, rules and content every ``check_seconds``, key revocations every
``watch_seconds``, erasures every ``poll_seconds``). With ``SHOPWISE_REDIS_URL`` set, the process
that makes a change also publishes its topic on one channel (``<prefix>:changes``), and every
process that hears it looks at the store for that topic now instead of at its next poll.

A message carries only a topic and the sender's random id (a process ignores its own): never a
person, key or product. Pub/sub does not keep messages, so a process that is disconnected misses
them; it keeps polling all the same (the fallback, so a lost message costs at most one poll
interval), and after every (re)connection it looks at every topic once. Publishing never fails a
write: a failed publish is logged once per outage and left to the polls.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, TypeVar

import redis
from pydantic import BaseModel

from shopwise.auth import ApiKey, KeyService
from shopwise.catalog import Catalog, Product, ProductPatch, UpsertResult
from shopwise.decide import Versioned, VersionedStore
from shopwise.rights import SubjectRights

log = logging.getLogger("shopwise.changes")

Topic = Literal["catalog", "rules", "content", "keys", "erasure"]
TOPICS: Final[tuple[Topic, ...]] = ("catalog", "rules", "content", "keys", "erasure")
RETRY_SECONDS: Final = 1.0
"""Wait before the listener connects again after Redis failed."""
TIMEOUT_SECONDS: Final = 0.25
"""Connect and read timeout of a publish: a write waits at most this on a hung Redis."""
T = TypeVar("T", bound=BaseModel)


class Changes:
    """Publishes and hears change topics on ``<prefix>:changes`` (see the module docstring).

    Parameters
    ----------
    url
        The Redis server (``SHOPWISE_REDIS_URL``).
    prefix
        Prefix of the channel name (``SHOPWISE_REDIS_PREFIX``).
    """

    def __init__(self, url: str, prefix: str = "shopwise") -> None:
        self._url = url
        self.channel = f"{prefix}:changes"
        self._client = redis.Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
        self._origin = uuid.uuid4().hex
        self._reactions: dict[str, list[Callable[[], object]]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._publish_failed = False
        self.heard = 0
        """Messages from other processes acted on since this object was made."""
        self.connected = threading.Event()
        """Set while the listener is subscribed (tests wait on it)."""

    def on(self, topic: Topic, react: Callable[[], object]) -> None:
        """Call ``react`` (on the listener thread) when another process announces ``topic``."""
        self._reactions.setdefault(topic, []).append(react)

    def announcer(self, topic: Topic) -> Callable[[], None]:
        """A callable that announces ``topic`` (what the services call after a write)."""
        return lambda: self.announce(topic)

    def announce(self, topic: Topic) -> None:
        """Tell every other process that ``topic`` changed in the store."""
        try:
            self._client.publish(self.channel, f"{self._origin} {topic}")
        except redis.RedisError as exc:  # boundary: the polls carry the change instead
            if not self._publish_failed:
                log.warning("could not announce a %s change; other processes poll (%s)", topic, exc)
            self._publish_failed = True
            return
        self._publish_failed = False

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._listen, name="redis-changes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._client.close()

    def _listen(self) -> None:
        failed = False
        while not self._stop.is_set():
            try:
                self._subscribed()
                failed = False
            except redis.RedisError as exc:  # boundary: polling carries changes meanwhile
                self.connected.clear()
                if not failed:
                    log.warning("redis change channel lost; polling only until back (%s)", exc)
                failed = True
                self._stop.wait(RETRY_SECONDS)

    def _subscribed(self) -> None:
        """Listen until stopped; every topic is looked at once first (messages may be lost)."""
        client = redis.Redis.from_url(self._url, socket_connect_timeout=TIMEOUT_SECONDS)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
            self._react(TOPICS)
            self.connected.set()
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=0.5)
                if message is not None:
                    self._heard(message)
        finally:
            self.connected.clear()
            pubsub.close()
            client.close()

    def _heard(self, message: dict[str, Any]) -> None:
        origin, _, topic = bytes(message["data"]).decode().partition(" ")
        if origin != self._origin and topic in self._reactions:
            self._react([topic])
            self.heard += 1  # after the reaction: a waiter on the count sees its effect

    def _react(self, topics: Sequence[str]) -> None:
        for topic in topics:
            for react in self._reactions.get(topic, ()):
                try:
                    react()
                except Exception:  # boundary: one failed reload must not end the listener
                    log.exception("reacting to a %s change failed; its poll retries", topic)


class AnnouncedCatalog(Catalog):
    """A :class:`Catalog` that announces its writes; :meth:`changed` reloads on the next read."""

    def __init__(self, engine: Any, announce: Callable[[], None], **options: Any) -> None:
        super().__init__(engine, **options)
        self._announce = announce

    def upsert(self, rows: Sequence[Any]) -> UpsertResult:
        result = super().upsert(rows)
        self._announce()
        return result

    def patch(self, product_id: str, patch: ProductPatch) -> Product:
        product = super().patch(product_id, patch)
        self._announce()
        return product

    def changed(self) -> None:
        """Another process wrote products: reread them on the next snapshot."""
        self._invalidate()


class AnnouncedVersions(VersionedStore[T]):
    """A :class:`VersionedStore` that announces new versions; :meth:`changed` looks again now."""

    def __init__(
        self, engine: Any, kind: Any, model: type[T], announce: Callable[[], None], **options: Any
    ) -> None:
        super().__init__(engine, kind, model, **options)
        self._announce = announce

    def put(self, body: str, key_id: str | None) -> Versioned[T]:
        stored = super().put(body, key_id)
        self._announce()
        return stored

    def changed(self) -> None:
        """Another process stored a version: the next :meth:`live` reads the newest."""
        # the store has no public hook for this: forgetting when it last looked is what makes
        # its own live() look again (as its put does for this process's writes)
        with self._lock:
            self._checked_at = -float("inf")


class AnnouncedKeys(KeyService):
    """A :class:`KeyService` that announces revocations (others react with :meth:`watch`)."""

    def __init__(
        self, engine: Any, audit: Any, announce: Callable[[], None], **options: Any
    ) -> None:
        super().__init__(engine, audit, **options)
        self._announce = announce

    def revoke(self, key_id: str, actor: str = "cli") -> ApiKey:
        key = super().revoke(key_id, actor)
        self._announce()
        return key


class AnnouncedRights(SubjectRights):
    """:class:`SubjectRights` that announce completed erasures (others :meth:`catch_up`)."""

    def __init__(self, *args: Any, announce: Callable[[], None], **options: Any) -> None:
        super().__init__(*args, **options)
        self._announce = announce

    def run_pending(self) -> list[dict[str, Any]]:
        done = super().run_pending()
        if done:
            self._announce()
        return done


def announced_rights(changes: Changes) -> Callable[..., SubjectRights]:
    """Builds :class:`AnnouncedRights` with :class:`SubjectRights`'s arguments."""
    return functools.partial(AnnouncedRights, announce=changes.announcer("erasure"))


def listen(
    changes: Changes,
    *,
    catalog: Catalog,
    rules: VersionedStore[Any],
    content: VersionedStore[Any],
    keys: KeyService,
    rights: SubjectRights,
) -> None:
    """Make this process react to the other processes' announcements."""
    if isinstance(catalog, AnnouncedCatalog):
        changes.on("catalog", catalog.changed)
    stores: tuple[tuple[Topic, VersionedStore[Any]], ...] = (("rules", rules), ("content", content))
    for topic, versions in stores:
        if isinstance(versions, AnnouncedVersions):
            changes.on(topic, versions.changed)
    changes.on("keys", keys.watch)
    changes.on("erasure", rights.catch_up)
