"""The collector settings of long-running processes (API server, worker), and their undoing."""

from __future__ import annotations

import gc

from shopwise.runtime import GC_THRESHOLDS, long_lived_gc


def test_startup_objects_are_frozen_and_full_passes_rare_until_exit() -> None:
    before = gc.get_threshold()
    with long_lived_gc():
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
