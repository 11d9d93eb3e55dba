"""Exposure logging off the request path, in batches.

Every served answer is recorded as a ``recommendation_viewed`` event. Handing each one to the
collector on its own costs a group commit (and a bus wake-up) per request at low rates;
:class:`ExposureLog` buffers them instead and a background thread hands them over every
``interval`` seconds (or at once when ``max_batch`` are waiting), so the store sees one insert
for many answers. A request only appends what it served to a list (serving appends
``(request, served)`` pairs); the thread makes their event rows every tenth of the interval, in
one loop, instead of a row being built on the event loop between two requests, and in slices
small enough that the event loop never waits long for the GIL. Exposures are read by
attribution and experiments, not by the next request, so a delay of one interval costs
nothing, and one commit an interval instead of one an answer writes fewer, fuller pages to the
write-ahead log. The interval is short so that each hand-over is small: storing many answers'
exposures at once kept the event loop waiting for the GIL long enough to set serving's p99
(``docs/performance.md``).
A crash loses at most the last ``interval`` of exposures; :meth:`ExposureLog.stop` flushes them.

Until :meth:`ExposureLog.start` (and after :meth:`ExposureLog.stop`) events go to the sink
directly, so nothing is held in memory by a process that never starts the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger("shopwise.serving")

T = TypeVar("T")


class ExposureLog(Generic[T]):
    """A buffer of exposures turned into event rows and flushed to ``sink`` by a background
    thread.

    ``rows`` makes the event rows of a batch of exposures; ``sink`` queues rows for storage
    without waiting (``Collector.enqueue_system``). The thread makes the rows of what was
    recorded every ``interval / 10`` seconds (slices small enough that the event loop never
    waits long for the GIL) and hands them to the sink every ``interval`` (one insert for many
    answers), or at once when ``max_batch`` are waiting. With nothing recorded or made it sleeps
    until the next exposure.
    """

    def __init__(
        self,
        rows: Callable[[list[T]], list[dict[str, Any]]],
        sink: Callable[[list[dict[str, Any]]], None],
        interval: float = 0.1,
        max_batch: int = 5000,
    ) -> None:
        if interval <= 0 or max_batch < 1:
            raise ValueError("interval must be positive and max_batch at least 1")
        self._rows = rows
        self._sink = sink
        self._interval = interval
        self._max = max_batch
        self._pending: list[T] = []
        self._made: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        """Guards ``_pending`` and ``_thread`` (taken by every request, briefly)."""
        self._making = threading.Lock()
        """Guards ``_made`` (the thread and :meth:`flush`, never a request)."""
        self._wake = threading.Event()
        self._idle = False
        """The thread waits without a timeout: nothing recorded or made (set under ``_lock``;
        the next exposure wakes it)."""
        self._stopping = False
        self._thread: threading.Thread | None = None

    def __call__(self, exposure: T) -> None:
        """Record one exposure (never raises for a sink failure once started)."""
        with self._lock:
            if self._thread is not None:
                self._pending.append(exposure)
                if self._idle or len(self._pending) >= self._max:
                    self._idle = False
                    self._wake.set()
                return
        self._sink(self._rows([exposure]))

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="exposures", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Flush what is pending and stop the thread (call before the collector stops)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopping = True
        if thread is not None:
            self._wake.set()
            thread.join(timeout=10)
        self.flush()

    def flush(self) -> None:
        """Hand everything recorded to the sink now, in batches of at most ``max_batch``."""
        with self._making:
            self._make_rows()
            made, self._made = self._made, []
        for start in range(0, len(made), self._max):
            try:
                self._sink(made[start : start + self._max])
            except Exception:  # boundary: exposure logging must never take serving down
                log.exception("exposure logging failed; %d events lost", len(made) - start)
                return

    def _make_rows(self) -> None:
        """Turn what was recorded so far into rows (holding ``_making``)."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            self._made += self._rows(pending)
        except Exception:  # boundary: exposure logging must never take serving down
            log.exception("exposure logging failed; %d events lost", len(pending))

    def _run(self) -> None:
        due = time.monotonic() + self._interval
        while not self._stopping:
            if self._went_idle():  # an idle server's thread sleeps until an exposure comes
                self._wake.wait()
                self._wake.clear()
                due = time.monotonic() + self._interval
                continue
            self._wake.clear()  # before the check: a wake-up that comes after it is kept
            if not self._must_hurry():
                self._wake.wait(max(0.0, min(self._interval / 10, due - time.monotonic())))
            with self._making:
                self._make_rows()
                ready = len(self._made)
            if ready >= self._max or time.monotonic() >= due:
                self.flush()
                due = time.monotonic() + self._interval

    def _must_hurry(self) -> bool:
        """Whether a full batch is waiting or the thread is stopping (a wake-up that came before
        the thread cleared its event is seen here instead of being lost)."""
        with self._lock:
            return self._stopping or len(self._pending) >= self._max

    def _went_idle(self) -> bool:
        """Whether nothing is recorded or made; if so the thread is marked idle, to be woken by
        the next exposure instead of waking every tenth of the interval."""
        with self._making, self._lock:
            self._idle = not self._pending and not self._made
            return self._idle
