"""Exposure logging in batches, off the request path."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from shopwise.serving import ExposureLog


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.fail = fail
        self.called = threading.Event()

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        self.called.set()
        if self.fail:
            raise RuntimeError("writer down")
        self.batches.append(batch)


def event(i: int) -> dict[str, Any]:
    return {"message_id": f"exp-{i}", "type": "recommendation_viewed"}


def test_events_are_handed_over_in_batches() -> None:
    sink = Sink()
    log = ExposureLog(list, sink, interval=60, max_batch=3)
    log.start()
    try:
        for i in range(7):
            log(event(i))
        assert sink.called.wait(5)  # three pending: the thread is woken at once
    finally:
        log.stop()  # flushes the rest
    sent = [e["message_id"] for batch in sink.batches for e in batch]
    assert sent == [f"exp-{i}" for i in range(7)]
    assert all(len(batch) <= 3 for batch in sink.batches) and len(sink.batches) < 7


def test_without_the_thread_events_go_straight_to_the_sink() -> None:
    sink = Sink()
    log = ExposureLog(list, sink)
    log(event(1))
    assert sink.batches == [[event(1)]]


def test_a_failing_sink_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    log = ExposureLog(list, Sink(fail=True), interval=0.01)
    log.start()
    log(event(1))
    log.stop()
    assert "exposure logging failed" in caplog.text


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        ExposureLog(list, Sink(), interval=0)


def test_rows_are_made_every_tenth_of_the_interval_and_handed_over_once() -> None:
    made: list[int] = []

    def rows(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        made.append(len(batch))
        return list(batch)

    sink = Sink()
    log = ExposureLog(rows, sink, interval=1.0)
    log.start()
    try:
        log(event(1))
        log(event(2))
        deadline = time.monotonic() + 0.6
        while not made and time.monotonic() < deadline:
            time.sleep(0.01)
        assert made == [2] and not sink.batches  # rows made, not yet handed over
        log(event(3))
        assert sink.called.wait(3)
    finally:
        log.stop()
    assert [e["message_id"] for batch in sink.batches for e in batch] == ["exp-1", "exp-2", "exp-3"]
    assert len(sink.batches) == 1 and sum(made) == 3


def test_failing_rows_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def rows(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise ValueError("bad exposure")

    sink = Sink()
    log = ExposureLog(rows, sink, interval=0.01)
    log.start()
    log(event(1))
    log.stop()
    assert "exposure logging failed; 1 events lost" in caplog.text and not sink.batches


class CountingEvent(threading.Event):
    """An event that counts the thread's waits (each one a wake-up of the exposure thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return super().wait(timeout)


def test_an_idle_thread_sleeps_until_the_next_exposure() -> None:
    """With nothing recorded the thread does not wake every tenth of the interval; the next
    exposure wakes it and is handed over within an interval."""
    sink = Sink()
    log = ExposureLog(list, sink, interval=0.1)
    wake = CountingEvent()
    log._wake = wake
    log.start()
    try:
        time.sleep(0.5)
        assert wake.waits <= 2  # polling every 10 ms would be about 50
        log(event(1))
        assert sink.called.wait(2)
        time.sleep(0.3)  # handed over, then idle again
        settled = wake.waits
        time.sleep(0.5)
        assert wake.waits - settled <= 1
    finally:
        log.stop()
    assert sink.batches == [[event(1)]]


class RacingEvent(threading.Event):
    """An event whose first wake-up runs ``race`` in the woken thread before the wait returns,
    as if requests recorded exposures between the thread's wake-up and its next step."""

    def __init__(self, race: Callable[[], None]) -> None:
        super().__init__()
        self.race: Callable[[], None] | None = race

    def wait(self, timeout: float | None = None) -> bool:
        woken = super().wait(timeout)
        race, self.race = self.race, None
        if woken and race is not None:
            race()
        return woken


def test_a_full_batch_recorded_while_the_thread_wakes_is_not_missed() -> None:
    """Exposures that fill a batch while the idle thread is waking set the event it is about to
    clear; the thread must still see the full batch instead of sleeping a tenth of the interval."""
    sink = Sink()
    log = ExposureLog(list, sink, interval=60, max_batch=3)
    log._wake = RacingEvent(lambda: [log(event(i)) for i in range(1, 7)])
    log.start()
    try:
        time.sleep(0.1)  # the thread sleeps, idle
        log(event(0))
        assert sink.called.wait(3)  # a tenth of the interval is 6 s
    finally:
        log.stop()
    assert [e["message_id"] for batch in sink.batches for e in batch] == [
        f"exp-{i}" for i in range(7)
    ]
