"""Two ``shopwise serve`` processes on two ports, one PostgreSQL store and one Redis: what one
process is told, the other knows.

Each process is addressed on its own port, so every request reaches a known process. The rate
limits count in one bucket across both; a key revoked by the operator (a third process) is
refused by both; a rule, content or catalog change or an erasure made through one process is seen
by the other at once, before the poll that would otherwise carry it (``docs/deploy.md``, "Change
announcements"); a shopper's events sent to both continue one session. Needs
``SHOPWISE_TEST_POSTGRES_URL`` and ``SHOPWISE_TEST_REDIS_URL`` (db 15); the case's schema and
Redis keys are dropped afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa
from tests.conftest import REDIS_DB, REDIS_ENV, postgres_settings

from shopwise import store
from shopwise.auth import KeyKind
from shopwise.runtime import Runtime

pytestmark = [pytest.mark.services, pytest.mark.slow]

START_SECONDS = 60.0
"""How long two processes may take to import the serving stack on a loaded machine."""
BURST = 4
"""The per-shopper burst of a write key (its refill is far slower than the test)."""
RULES_CHECK_SECONDS = 1.0
"""How long a process keeps the live rule and content sets before it looks at the store again
(``VersionedStore``'s ``check_seconds``): seen sooner, the announcement carried the change."""
CATALOG_SECONDS = 5.0
"""Within this the other process lists a new product; its own look comes every thirty seconds."""
ERASURE_SECONDS = 0.5
"""Within this after the erasure completes, the other process drops the person's events; its own
look at completed erasures comes every two seconds (two people erased: the poll alone would meet
this bound for both once in sixteen runs)."""
REVOKED_SECONDS = 2.0
"""Within this both processes refuse a revoked key."""


@dataclass
class Shop:
    """The two servers and the operator's runtime (the third process: keys, revocations)."""

    urls: tuple[str, str]
    operator: Runtime
    write: dict[str, str]
    secret: dict[str, str]
    admin: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _bearer(runtime: Runtime, kind: KeyKind) -> dict[str, str]:
    return {"Authorization": f"Bearer {runtime.keys.create(kind)[1]}"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    redis_url = os.environ.get(REDIS_ENV)
    if (
        not redis_url
        or redis.Redis.from_url(redis_url).connection_pool.connection_kwargs.get("db") != REDIS_DB
    ):
        pytest.skip(reason=f"{REDIS_ENV} must name db {REDIS_DB} (Redis tests need a server)")
    tmp_path = tmp_path_factory.mktemp("two-processes")
    prefix = f"test-two-{uuid.uuid4().hex[:10]}"
    limits = {
        "rate_limit_per_shopper_burst": BURST,
        "rate_limit_per_shopper_per_second": 0.001,
    }
    for settings in postgres_settings(
        tmp_path, redis_url=redis_url, redis_prefix=prefix, log_level="WARNING", **limits
    ):
        operator = Runtime.build(settings, migrate=True)
        keys = {kind: _bearer(operator, kind) for kind in KeyKind}
        operator.catalog.upsert(
            [{"id": f"p{i}", "title": f"Product {i}", "price": 10 + i} for i in range(5)]
        )
        env = {
            **os.environ,
            "SHOPWISE_DATA_DIR": str(settings.data_dir),
            "SHOPWISE_DATABASE_URL": str(settings.database_url),
            "SHOPWISE_REDIS_URL": redis_url,
            "SHOPWISE_REDIS_PREFIX": prefix,
            "SHOPWISE_LOG_LEVEL": "WARNING",
            **{f"SHOPWISE_{name.upper()}": str(value) for name, value in limits.items()},
        }
        command = str(Path(sys.executable).parent / "shopwise")
        ports = (_free_port(), _free_port())
        logs = [tmp_path / f"serve-{port}.log" for port in ports]
        processes = []
        for port, log_path in zip(ports, logs, strict=True):
            with log_path.open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [command, "serve", "--port", str(port)],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        urls = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
        try:
            deadline = time.monotonic() + START_SECONDS
            for url, process, log_path in zip(urls, processes, logs, strict=True):
                while not _healthy(url):
                    tail = log_path.read_text()[-2000:]
                    assert process.poll() is None, tail
                    assert time.monotonic() < deadline, tail
                    time.sleep(0.2)
            yield Shop(
                urls,
                operator,
                keys[KeyKind.WRITE],
                keys[KeyKind.SECRET],
                keys[KeyKind.ADMIN],
            )
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            assert operator.changes is not None
            operator.changes.stop()
            operator.engine.dispose()
            with redis.Redis.from_url(redis_url) as client:
                stale = list(client.scan_iter(match=f"{prefix}:*"))
                if stale:
                    client.delete(*stale)


def _recommend(url: str, headers: dict[str, str], shopper: str) -> httpx.Response:
    return httpx.get(
        f"{url}/v1/recommendations",
        params={"placement": "home", "anonymous_id": shopper},
        headers=headers,
        timeout=10,
    )


def _within(seconds: float, condition: Callable[[], bool], since: float | None = None) -> None:
    """Fail unless ``condition()`` holds within ``seconds`` of ``since`` (default: now), counted
    to the end of the call that found it: a request answered by then was handled by then."""
    start = time.monotonic() if since is None else since
    while True:
        held = condition()
        took = time.monotonic() - start
        assert took < seconds, f"not seen within {seconds} s"
        if held:
            return
        time.sleep(0.01)


def test_one_shoppers_requests_count_in_one_bucket_across_both(shop: Shop) -> None:
    first, second = shop.urls
    order = [first, second] * BURST
    statuses = [_recommend(url, shop.write, "shared-shopper").status_code for url in order]
    assert statuses == [200] * BURST + [429] * BURST  # each process refuses what both took
    refused = _recommend(second, shop.write, "shared-shopper")
    assert refused.status_code == 429 and float(refused.headers["retry-after"]) > 0
    assert _recommend(first, shop.write, "another-shopper").status_code == 200


def test_a_key_revoked_by_the_operator_is_refused_by_both(shop: Shop) -> None:
    key, plaintext = shop.operator.keys.create(KeyKind.SECRET)
    headers = {"Authorization": f"Bearer {plaintext}"}
    for url in shop.urls:  # verified, and held in each process's key cache from now on
        assert httpx.get(f"{url}/v1/catalog/products", headers=headers).status_code == 200
    revoked_at = time.monotonic()
    shop.operator.keys.revoke(key.id)

    def refused(url: str) -> bool:
        return httpx.get(f"{url}/v1/catalog/products", headers=headers).status_code == 401

    _within(REVOKED_SECONDS, lambda: all(refused(url) for url in shop.urls), since=revoked_at)


@pytest.mark.parametrize("document", ["rules", "content"])
def test_a_document_changed_through_one_is_live_in_the_other_before_its_check(
    shop: Shop, document: str
) -> None:
    first, second = shop.urls

    def version(url: str) -> int:
        answer = httpx.get(f"{url}/v1/{document}", headers=shop.admin, timeout=10)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["version"])

    body = httpx.get(f"{first}/v1/{document}", headers=shop.admin).json()["yaml"]
    primed = time.monotonic()
    live = version(second)  # looked at the store now: not again for a second
    stored = httpx.put(f"{first}/v1/{document}", content=body, headers=shop.admin, timeout=10)
    assert stored.status_code == 200, stored.text
    assert stored.json()["version"] > live
    _within(RULES_CHECK_SECONDS, lambda: version(second) == stored.json()["version"], primed)


def test_a_product_added_through_one_is_listed_by_the_other(shop: Shop) -> None:
    first, second = shop.urls

    def listed(url: str) -> set[str]:
        answer = httpx.get(f"{url}/v1/catalog/products", headers=shop.secret, timeout=10)
        return {product["id"] for product in answer.json()["products"]}

    assert "p-new" not in listed(second)  # the snapshot is loaded: not looked at again soon
    product = {"id": "p-new", "title": "New", "price": 9.5}
    answer = httpx.put(
        f"{first}/v1/catalog/products", json={"products": [product]}, headers=shop.secret
    )
    assert answer.status_code == 200, answer.text
    _within(CATALOG_SECONDS, lambda: "p-new" in listed(second))


def _event(user_id: str) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4().hex,
        "type": "product_viewed",
        "anonymous_id": f"a-{user_id}",
        "user_id": user_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "properties": {"product_id": "p1"},
    }


def _suppressed(url: str, headers: dict[str, str], user_id: str) -> bool:
    answer = httpx.post(
        f"{url}/v1/events", json={"batch": [_event(user_id)]}, headers=headers, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["suppressed"])


@pytest.mark.parametrize("person", ["u-gone-1", "u-gone-2"])
def test_an_erasure_through_one_stops_the_others_intake_at_once(shop: Shop, person: str) -> None:
    first, second = shop.urls
    assert not _suppressed(second, shop.secret, person)
    _within(
        20,
        lambda: httpx.get(f"{first}/v1/profiles/{person}", headers=shop.secret).status_code == 200,
    )
    asked = httpx.post(f"{first}/v1/privacy/erase/{person}", headers=shop.secret, timeout=30)
    assert asked.status_code == 202, asked.text
    request = f"{first}/v1/privacy/requests/{asked.json()['request_id']}"
    _within(20, lambda: httpx.get(request, headers=shop.secret).json()["status"] == "verified")
    _within(ERASURE_SECONDS, lambda: _suppressed(second, shop.secret, person))


def test_a_visit_spread_over_both_is_one_session(shop: Shop) -> None:
    views = [{**_event("u-visit"), "user_id": None} for _ in range(6)]
    for n, view in enumerate(views):  # alternately through each process
        url = shop.urls[n % 2]
        answer = httpx.post(f"{url}/v1/events", json={"batch": [view]}, headers=shop.secret)
        assert answer.json()["accepted"] == 1, answer.text
    query = sa.select(store.events.c.session_id).where(
        store.events.c.message_id.in_([view["message_id"] for view in views])
    )
    with shop.operator.engine.connect() as conn:
        sessions = list(conn.execute(query).scalars())
    assert len(sessions) == len(views) and len(set(sessions)) == 1
