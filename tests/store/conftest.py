"""Store backends for the contract suite: SQLite always, PostgreSQL when a server is given."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import postgres_settings

from shopwise import store
from shopwise.settings import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for each store backend; the contract suite runs once per backend."""
    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path / "var")
    else:
        yield from postgres_settings(tmp_path)


@pytest.fixture
def engine(backend_settings: Settings) -> Iterator[sa.Engine]:
    eng = store.create_engine(backend_settings)
    store.upgrade(eng)
    yield eng
    eng.dispose()
