"""Rate limits shared through Redis: two servers, one bucket; bounded keys; outages fall back.

Marked ``services`` and skipped without ``SHOPWISE_TEST_REDIS_URL`` (db 15). Every case writes
under a key prefix of its own and deletes only that prefix's keys afterwards.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from tests._clock import Clock
from tests.conftest import REDIS_DB

from shopwise.api import create_app
from shopwise.auth import KeyKind, RateLimits, RedisRateLimiter, shared_rate_limits
from shopwise.errors import RateLimited
from shopwise.runtime import Runtime
from shopwise.settings import Settings

pytestmark = pytest.mark.services


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = f"test-limits-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{name}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _settings(tmp_path: Path, **fields: object) -> Settings:
    return Settings(data_dir=tmp_path / "var", log_level="WARNING", **fields)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_two_servers_take_from_one_bucket(tmp_path: Path, redis_url: str, prefix: str) -> None:
    settings = _settings(tmp_path, rate_limit_per_second=0.01, rate_limit_burst=3)
    first = shared_rate_limits(settings, redis_url, prefix=prefix)
    second = shared_rate_limits(settings, redis_url, prefix=prefix)
    first.per_key.take("key-a")
    second.per_key.take("key-a")
    first.per_key.take("key-a")
    with pytest.raises(RateLimited) as refused:
        second.per_key.take("key-a")
    assert 90 < refused.value.retry_after <= 100  # one token at 0.01/s
    second.per_key.take("key-b")  # another key has its own bucket


def test_shopper_digests_are_shared_and_hold_no_id(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    settings = _settings(
        tmp_path, rate_limit_per_shopper_per_second=0.01, rate_limit_per_shopper_burst=2
    )
    first = shared_rate_limits(settings, redis_url, prefix=prefix)
    second = shared_rate_limits(settings, redis_url, prefix=prefix)
    assert first.salt == second.salt
    local = RateLimits.from_settings(settings)
    assert local.salt != first.salt  # without Redis the salt stays per process
    limiter = first.per_shopper
    assert isinstance(limiter, RedisRateLimiter)
    limiter.take(b"\x01" * 16)
    second.per_shopper.take(b"\x01" * 16)
    with pytest.raises(RateLimited):
        first.per_shopper.take(b"\x01" * 16)
    keys = [k.decode() for k in redis.Redis.from_url(redis_url).scan_iter(match=f"{prefix}:*")]
    assert keys == [limiter.key_of(b"\x01" * 16)]
    assert keys[0].endswith("01" * 16)


def test_buckets_expire_once_full_again(tmp_path: Path, redis_url: str, prefix: str) -> None:
    settings = _settings(tmp_path, rate_limit_per_second=2.0, rate_limit_burst=4)
    limits = shared_rate_limits(settings, redis_url, prefix=prefix)
    limiter = limits.per_key
    assert isinstance(limiter, RedisRateLimiter)
    limiter.take("key-ttl")
    ttl = redis.Redis.from_url(redis_url).pttl(limiter.key_of("key-ttl"))
    # full again after burst / rate seconds (plus a second's margin), never kept for ever
    assert 2000 < ttl <= 3000


def test_check_looks_without_taking(tmp_path: Path, redis_url: str, prefix: str) -> None:
    settings = _settings(
        tmp_path, rate_limit_unknown_key_per_second=0.01, rate_limit_unknown_key_burst=2
    )
    first = shared_rate_limits(settings, redis_url, prefix=prefix)
    second = shared_rate_limits(settings, redis_url, prefix=prefix)
    for _ in range(5):
        second.before_verify("10.0.0.1")
    first.refused("10.0.0.1")
    first.refused("10.0.0.1")
    with pytest.raises(RateLimited):
        second.before_verify("10.0.0.1")  # the other server's guesses emptied the bucket
    second.before_verify("10.0.0.2")


def test_a_429_from_one_api_process_holds_in_the_other(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    settings = _settings(
        tmp_path, rate_limit_per_shopper_per_second=0.001, rate_limit_per_shopper_burst=3
    )
    first_rt = Runtime.build(settings, migrate=True)
    second_rt = Runtime.build(settings)
    for runtime in (first_rt, second_rt):
        runtime.limits = shared_rate_limits(settings, redis_url, prefix=prefix)
    key = {"Authorization": f"Bearer {first_rt.keys.create(KeyKind.WRITE)[1]}"}
    params = {"anonymous_id": "greedy"}
    with (
        TestClient(create_app(settings, first_rt)) as first,
        TestClient(create_app(settings, second_rt)) as second,
    ):
        codes = [
            server.post("/v1/alias", params=params, json={}, headers=key).status_code
            for server in (first, second, first)
        ]
        assert codes == [400, 400, 400]  # admitted (then refused as an empty alias)
        response = second.post("/v1/alias", params=params, json={}, headers=key)
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "rate_limited"
        assert int(response.headers["retry-after"]) >= 1
        other = {"anonymous_id": "polite"}
        assert first.post("/v1/alias", params=other, json={}, headers=key).status_code == 400


def test_redis_unreachable_falls_back_in_process_and_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = _free_port()
    settings = _settings(tmp_path, rate_limit_per_second=0.01, rate_limit_burst=2)
    clock = Clock(1000.0)
    limits = shared_rate_limits(
        settings, f"redis://127.0.0.1:{port}/{REDIS_DB}", prefix="down", clock=clock
    )
    limiter = limits.per_key
    assert isinstance(limiter, RedisRateLimiter)
    with caplog.at_level(logging.WARNING, logger="shopwise.auth"):
        limiter.take("key")  # no error: counted in process
        limiter.take("key")
        with pytest.raises(RateLimited):
            limiter.take("key")  # the fallback still limits
        limiter.check("other")
    assert not limiter.shared
    outages = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outages) == 1  # logged once per outage, not per request

    server = shutil.which("redis-server")
    if server is None:
        pytest.skip(reason="redis-server is not installed: the return of Redis is not tested")
    process = subprocess.Popen(
        [server, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        probe = redis.Redis(port=port, db=REDIS_DB)
        deadline = time.monotonic() + 5
        while True:
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)
        limiter.take("key-2")
        assert not limiter.shared  # not asked again before the retry delay
        clock.now += 10
        limiter.take("key-2")
        assert limiter.shared
        assert probe.exists(limiter.key_of("key-2"))
        probe.close()
    finally:
        process.terminate()
        process.wait(timeout=5)
