"""Store backends for the contract suite: SQLite always, PostgreSQL when a server is given."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from shopwise import store
from shopwise.settings import Settings

POSTGRES_ENV = "SHOPWISE_TEST_POSTGRES_URL"


def _postgres_settings(tmp_path: Path) -> Iterator[Settings]:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(reason=f"{POSTGRES_ENV} is not set (PostgreSQL contract tests need a server)")
    schema = f"sw_{uuid.uuid4().hex[:12]}"
    admin = store.create_engine(Settings(database_url=url, data_dir=tmp_path))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    scoped = f"{url}{sep}options=-csearch_path%3D{schema}"
    try:
        yield Settings(database_url=scoped, data_dir=tmp_path)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for each store backend; the contract suite runs once per backend."""
    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path / "var")
    else:
        yield from _postgres_settings(tmp_path)


@pytest.fixture
def engine(backend_settings: Settings) -> Iterator[sa.Engine]:
    eng = store.create_engine(backend_settings)
    store.upgrade(eng)
    yield eng
    eng.dispose()
