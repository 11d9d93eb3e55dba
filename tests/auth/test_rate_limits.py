"""Rate limits per shopper of a public key and per address of invalid keys (issue 22), and the
memory bound of the buckets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests._clock import Clock

from shopwise.api import create_app
from shopwise.auth import KeyKind, RateLimiter
from shopwise.errors import RateLimited
from shopwise.runtime import Runtime
from shopwise.settings import Settings


def test_idle_buckets_are_dropped_when_the_cap_is_reached() -> None:
    clock = Clock(100.0)
    limiter = RateLimiter(rate=1.0, burst=2, clock=clock, max_buckets=4)
    for shopper in "abc":
        limiter.take(shopper)
    limiter.take("d")
    limiter.take("d")  # d is empty
    clock.now += 1.5  # a, b, c full again; d is not
    limiter.take("e")
    assert len(limiter) == 2
    limiter.take("d")
    with pytest.raises(RateLimited):
        limiter.take("d")  # d's state survived the sweep


def test_a_flood_of_busy_buckets_stays_within_the_cap() -> None:
    clock = Clock(100.0)
    limiter = RateLimiter(rate=1.0, burst=5, clock=clock, max_buckets=100)
    for i in range(1000):
        clock.now += 0.001
        limiter.take(f"s{i}")
        assert len(limiter) <= 100
    limiter.take("s999")  # the most recent buckets are kept
    limiter.take("s999")
    limiter.take("s999")
    limiter.take("s999")
    with pytest.raises(RateLimited):
        limiter.take("s999")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "var",
        log_level="WARNING",
        rate_limit_per_second=0.001,
        rate_limit_burst=8,
        rate_limit_per_shopper_per_second=0.001,
        rate_limit_per_shopper_burst=3,
        rate_limit_unknown_key_per_second=0.001,
        rate_limit_unknown_key_burst=2,
    )
    runtime = Runtime.build(settings, migrate=True)
    with TestClient(create_app(settings, runtime)) as test_client:
        yield test_client


def _key(client: TestClient, kind: KeyKind) -> dict[str, str]:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {runtime.keys.create(kind)[1]}"}


def _status(client: TestClient, headers: dict[str, str], anon: str | None = None) -> int:
    params = {"anonymous_id": anon} if anon else {}
    return client.post("/v1/alias", params=params, json={}, headers=headers).status_code


def test_one_shopper_draining_a_public_key_is_refused_alone(client: TestClient) -> None:
    write = _key(client, KeyKind.WRITE)
    assert [_status(client, write, "greedy") for _ in range(4)] == [400, 400, 400, 429]
    response = client.post("/v1/alias", params={"anonymous_id": "greedy"}, json={}, headers=write)
    assert response.json()["error"]["code"] == "rate_limited"
    assert "shopper" in response.json()["error"]["message"]
    assert int(response.headers["retry-after"]) >= 1
    # refused requests took nothing from the key: other shoppers still get through
    assert [_status(client, write, "polite") for _ in range(3)] == [400] * 3


def test_without_an_anonymous_id_a_shopper_is_their_client_address(client: TestClient) -> None:
    write = _key(client, KeyKind.WRITE)
    assert [_status(client, write) for _ in range(4)] == [400, 400, 400, 429]


def test_secret_keys_are_limited_per_key_only(client: TestClient) -> None:
    secret = _key(client, KeyKind.SECRET)
    assert [_status(client, secret, "same") for _ in range(9)] == [400] * 8 + [429]


def test_guessed_keys_are_throttled_by_address_even_a_right_one(client: TestClient) -> None:
    wrong = {"Authorization": "Bearer sw_write_nope_nope"}
    assert [_status(client, wrong) for _ in range(3)] == [401, 401, 429]
    right = _key(client, KeyKind.SECRET)
    assert _status(client, right) == 429  # the address's guesses are spent
