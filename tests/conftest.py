"""Shared fixtures: settings in a temporary data dir, a migrated runtime, an API client, keys."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

from shopwise import store
from shopwise.api import create_app
from shopwise.auth import KeyKind
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.simulate import SimulatedShop, SimulationConfig, load, simulate
from shopwise.worker import train_recommenders

POSTGRES_ENV = "SHOPWISE_TEST_POSTGRES_URL"
REDIS_ENV = "SHOPWISE_TEST_REDIS_URL"
REDIS_DB = 15
"""The only Redis database the tests write to (each under a key prefix of its own)."""


@pytest.fixture
def redis_url() -> str:
    """The test Redis in ``SHOPWISE_TEST_REDIS_URL``, which must name db :data:`REDIS_DB`;
    the test is skipped without one."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(reason=f"{REDIS_ENV} is not set (Redis tests need a server)")
    client = redis.Redis.from_url(url)
    try:
        if client.connection_pool.connection_kwargs.get("db") != REDIS_DB:
            pytest.skip(reason=f"{REDIS_ENV} must name db {REDIS_DB}, the db these tests may clear")
    finally:
        client.close()
    return url


def postgres_settings(tmp_path: Path, **fields: Any) -> Iterator[Settings]:
    """Settings on a fresh schema of the PostgreSQL server in ``SHOPWISE_TEST_POSTGRES_URL``
    (the test is skipped without one), dropped afterwards: for backend fixtures to yield from."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(reason=f"{POSTGRES_ENV} is not set (PostgreSQL tests need a server)")
    schema = f"sw_{uuid.uuid4().hex[:12]}"
    admin = store.create_engine(Settings(database_url=url, data_dir=tmp_path))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    scoped = f"{url}{sep}options=-csearch_path%3D{schema}"
    try:
        yield Settings(database_url=scoped, data_dir=tmp_path, **fields)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", log_level="WARNING")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.build(settings, migrate=True)
    rt.start()
    yield rt
    rt.stop()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    rt = Runtime.build(settings, migrate=True)
    with TestClient(create_app(settings, rt)) as test_client:
        yield test_client


def _key(client: TestClient, kind: KeyKind) -> dict[str, str]:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {runtime.keys.create(kind)[1]}"}


@pytest.fixture
def write_auth(client: TestClient) -> dict[str, str]:
    return _key(client, KeyKind.WRITE)


@pytest.fixture
def secret_auth(client: TestClient) -> dict[str, str]:
    return _key(client, KeyKind.SECRET)


@pytest.fixture
def admin_auth(client: TestClient) -> dict[str, str]:
    return _key(client, KeyKind.ADMIN)


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The shared benchmark datasets; tests that need them skip when they are absent."""
    value = os.environ.get("SHOPWISE_DATASETS_DIR")
    if not value:
        pytest.skip(reason="SHOPWISE_DATASETS_DIR is not set (realdata tests need it)")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(reason=f"SHOPWISE_DATASETS_DIR={value} is not a directory")
    return path


@contextmanager
def quick_demo(data_dir: Path, model: str) -> Iterator[tuple[TestClient, Runtime, SimulatedShop]]:
    """The quick demo shop, loaded through the collector and served with ``model`` trained."""
    settings = Settings(data_dir=data_dir, log_level="WARNING")
    runtime = Runtime.build(settings, migrate=True)
    with TestClient(create_app(settings, runtime)) as client:
        shop = simulate(SimulationConfig.quick())
        loaded = load(shop, runtime.collector.ingest, runtime.catalog.upsert)
        last = max(getattr(answer, "last_event_id", 0) for answer in loaded.responses)
        assert runtime.bus.wait_until_consumed(last, timeout=120)
        train_recommenders(runtime, model, lambda _m: None)
        yield client, runtime, shop
