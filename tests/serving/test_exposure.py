"""Exposure logging in batches, off the request path."""

from __future__ import annotations

import threading
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
    log = ExposureLog(sink, interval=60, max_batch=3)
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
    log = ExposureLog(sink)
    log(event(1))
    assert sink.batches == [[event(1)]]


def test_a_failing_sink_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    log = ExposureLog(Sink(fail=True), interval=0.01)
    log.start()
    log(event(1))
    log.stop()
    assert "exposure logging failed" in caplog.text


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        ExposureLog(Sink(), interval=0)
