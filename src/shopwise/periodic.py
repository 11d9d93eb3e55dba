"""A background thread that runs one step every few seconds until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Periodic:
    """Runs ``step`` every ``seconds`` on a daemon thread named ``name``, from :meth:`start`
    until :meth:`stop` (which waits for the step in progress)."""

    def __init__(self, name: str, seconds: float, step: Callable[[], object]) -> None:
        self._name = name
        self._seconds = seconds
        self._step = step
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            self._step()
