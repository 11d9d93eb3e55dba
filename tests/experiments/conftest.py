"""Fixtures of the experiment tests: both store backends and an empty event log builder."""

from __future__ import annotations

import pytest
from tests.kpis.helpers import Log
from tests.store.conftest import backend_settings, engine  # noqa: F401


@pytest.fixture
def log() -> Log:
    return Log()
