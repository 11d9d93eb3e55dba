"""The audit log runs on every store backend: the store contract suite's fixtures, reused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

# pytest finds fixtures by name in a conftest, so importing them is what makes them available here
from tests.store.conftest import backend_settings, engine  # noqa: F401

from shopwise.audit import AuditLog


@pytest.fixture
def log(engine: sa.Engine) -> AuditLog:  # noqa: F811
    return AuditLog(engine)
