"""The embedded bus: the event table is the log, ``bus_offsets`` holds each consumer's position.

Publishing only wakes the consumer threads; they read committed rows after their offset, so a
consumer that crashed or a process that restarted resumes without losing an event. Event ids are
assigned under SQLite's single write lock, so id order is commit order. When the consumers run in
another process (``shopwise worker``), they notice new rows by polling, every ``poll_seconds`` while
events flow and backing off to :data:`IDLE_POLL_SECONDS` while none come, and
:meth:`EmbeddedBus.wait_until_consumed` in the API process watches their stored offsets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa

from shopwise.bus._protocol import Handler, StoredEvent
from shopwise.store import bus_offsets, events, write_transaction

log = logging.getLogger("shopwise.bus")

_COLUMNS = [events.c[name] for name in StoredEvent.__slots__ if name in events.c]
IGNORED_WINDOW: Final = 20
"""Batches' worth of event ids a consumer with ignored types scans per read."""
SKIPPED_SAVE_SECONDS: Final = 1.0
"""How often, at most, a consumer stores a position it reached over ignored events alone (see
:meth:`EmbeddedBus._skip_to`)."""
IDLE_POLL_SECONDS: Final = 0.4
"""The longest wait between polls: each empty poll doubles the wait from ``poll_seconds`` up to
this, and any event found or published here starts again from ``poll_seconds``."""
_LATEST = sa.select(sa.func.max(events.c.id))
_AFTER = events.c.id > sa.bindparam("position")


class _Consumer:
    """A subscriber, with its read statements built once (a poll then costs no SQL building)."""

    def __init__(
        self, name: str, handler: Handler, batch_size: int, ignore: frozenset[str]
    ) -> None:
        self.name = name
        self.handler = handler
        self.batch_size = batch_size
        self.ignore = ignore
        self.position = -1
        """-1 until loaded from ``bus_offsets`` by the consumer's thread."""
        self.stored = -1
        """The position last stored in ``bus_offsets``."""
        self.stored_at = 0.0
        """When it was stored (``time.monotonic``)."""
        self.thread: threading.Thread | None = None
        batch = sa.select(*_COLUMNS).where(_AFTER).order_by(events.c.id).limit(batch_size)
        self.read_all = batch
        """The next batch (no ignored types)."""
        scanned = (
            sa.select(events.c.id)
            .where(_AFTER)
            .order_by(events.c.id)
            .limit(batch_size * IGNORED_WINDOW)
            .subquery()
        )
        self.read_window = sa.select(sa.func.max(scanned.c.id))
        """The last event id of the window scanned for ignored types."""
        self.read_kept = batch.where(
            events.c.id <= sa.bindparam("last"), events.c.type.not_in(ignore)
        )
        """The next batch within the window, less the ignored types."""


class EmbeddedBus:
    """In-process bus over the event table (see module docstring)."""

    def __init__(self, engine: sa.Engine, poll_seconds: float = 0.05) -> None:
        self._engine = engine
        self._poll = poll_seconds
        self._consumers: dict[str, _Consumer] = {}
        self._wake = threading.Condition()
        self._progress = threading.Condition()
        self._stopping = threading.Event()
        self._generation = 0

    def publish(self, events: Sequence[StoredEvent]) -> None:
        with self._wake:
            self._generation += 1
            self._wake.notify_all()

    def subscribe(
        self,
        consumer: str,
        handler: Handler,
        batch_size: int = 500,
        ignore: frozenset[str] = frozenset(),
    ) -> None:
        if consumer in self._consumers:
            raise ValueError(f"consumer {consumer!r} is already subscribed")
        self._consumers[consumer] = _Consumer(consumer, handler, batch_size, ignore)

    def start(self) -> None:
        self._stopping.clear()
        for consumer in self._consumers.values():
            consumer.thread = threading.Thread(
                target=self._run, args=(consumer,), name=f"bus-{consumer.name}", daemon=True
            )
            consumer.thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        for consumer in self._consumers.values():
            if consumer.thread is not None:
                consumer.thread.join(timeout=10)
                consumer.thread = None

    def position(self, consumer: str) -> int:
        return self._consumers[consumer].position

    def wait_until_consumed(self, event_id: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        if not any(c.thread is not None for c in self._consumers.values()):
            return self._wait_for_other_process(event_id, deadline)
        with self._progress:
            while any(c.position < event_id for c in self._consumers.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                with self._wake:
                    self._generation += 1
                    self._wake.notify_all()
                self._progress.wait(min(left, 0.05))
        return True

    def _wait_for_other_process(self, event_id: int, deadline: float) -> bool:
        """The consumers run elsewhere (``shopwise worker``): watch their stored offsets."""
        names = list(self._consumers)
        query = sa.select(bus_offsets.c.position).where(bus_offsets.c.consumer.in_(names))
        while True:
            with self._engine.connect() as conn:
                positions = list(conn.execute(query).scalars())
            if len(positions) == len(names) and min(positions) >= event_id:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(self._poll, max(deadline - time.monotonic(), 0.0)))

    def _run(self, consumer: _Consumer) -> None:
        wait = self._poll
        while not self._stopping.is_set():
            try:
                if consumer.position < 0:
                    consumer.position = consumer.stored = self._load_position(consumer.name)
                upto, batch = self._read(consumer)
                if upto > consumer.position:
                    if batch:
                        consumer.handler(batch)
                        self._save_position(consumer, upto)
                    else:
                        self._skip_to(consumer, upto)
                    wait = self._poll
                    continue
                if consumer.stored < consumer.position:  # caught up over ignored events
                    due = consumer.stored_at + SKIPPED_SAVE_SECONDS - time.monotonic()
                    if due <= 0:
                        self._save_position(consumer, consumer.position)
                    else:
                        wait = min(wait, due)
            except Exception:  # boundary: a failing consumer retries, it never kills the bus
                log.exception("bus consumer failed; retrying", extra={"consumer": consumer.name})
                self._stopping.wait(1.0)
                continue
            woken = self._sleep(wait)
            wait = self._poll if woken else min(wait * 2, max(IDLE_POLL_SECONDS, self._poll))

    def _sleep(self, timeout: float) -> bool:
        """Wait for a publish (``True``), the stop, or ``timeout`` seconds (``False``)."""
        with self._wake:
            generation = self._generation
            return self._wake.wait_for(
                lambda: self._generation != generation or self._stopping.is_set(),
                timeout=timeout,
            )

    def _read(self, consumer: _Consumer) -> tuple[int, list[StoredEvent]]:
        """The next batch's last event id and its events, less the types the consumer ignores.

        A poll that finds no event after the consumer's position costs one index seek (the
        newest id). Ignored events are skipped in SQL (never materialised) but still passed: the
        position moves over them, so ``wait_until_consumed`` holds for them too. The window
        scanned for them is :data:`IGNORED_WINDOW` batches wide, so a stretch of ignored events
        (a second of exposures) costs one read and one position save, not one per batch.
        """
        position = {"position": consumer.position}
        with self._engine.connect() as conn:
            latest = conn.execute(_LATEST).scalar_one_or_none()
            if latest is None or latest <= consumer.position:
                return consumer.position, []
            if not consumer.ignore:
                rows = conn.execute(consumer.read_all, position).all()
                batch = [StoredEvent.from_row(dict(row._mapping)) for row in rows]
                return (batch[-1].id if batch else consumer.position), batch
            last = conn.execute(consumer.read_window, position).scalar_one()
            rows = conn.execute(consumer.read_kept, {**position, "last": last}).all()
        batch = [StoredEvent.from_row(dict(row._mapping)) for row in rows]
        if len(batch) == consumer.batch_size:  # a full batch: the rest of the window is next
            last = batch[-1].id
        return int(last), batch

    def _load_position(self, name: str) -> int:
        query = sa.select(bus_offsets.c.position).where(bus_offsets.c.consumer == name)
        with self._engine.connect() as conn:
            position = conn.execute(query).scalar_one_or_none()
        return int(position or 0)

    def _skip_to(self, consumer: _Consumer, position: int) -> None:
        """Move over a window of ignored events alone (exposures come ten times a second): at
        once in memory, so :meth:`wait_until_consumed` holds for them, but in ``bus_offsets``
        at most every :data:`SKIPPED_SAVE_SECONDS`, also once the consumer has caught up (it
        then stores the position when that time is up), instead of one write transaction a
        poll. A restart re-reads at most that stretch, all of it ignored."""
        if time.monotonic() - consumer.stored_at >= SKIPPED_SAVE_SECONDS:
            self._save_position(consumer, position)
            return
        self._advance(consumer, position)

    def _save_position(self, consumer: _Consumer, position: int) -> None:
        now = int(time.time() * 1000)
        with write_transaction(self._engine) as conn:
            updated = conn.execute(
                bus_offsets.update()
                .where(bus_offsets.c.consumer == consumer.name)
                .values(position=position, updated_at=now)
            ).rowcount
            if not updated:
                conn.execute(
                    bus_offsets.insert().values(
                        consumer=consumer.name, position=position, updated_at=now
                    )
                )
        consumer.stored, consumer.stored_at = position, time.monotonic()
        self._advance(consumer, position)

    def _advance(self, consumer: _Consumer, position: int) -> None:
        with self._progress:
            consumer.position = position
            self._progress.notify_all()
