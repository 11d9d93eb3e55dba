"""``GET /metrics``: scraped through the app after real requests, parsed as Prometheus parses it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from shopwise.api import create_app
from shopwise.api._metrics import StoreReadings
from shopwise.auth import KeyKind
from shopwise.registry import ModelRegistry
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.store import bus_offsets, events, job_runs, write_transaction
from shopwise.worker import Job, Scheduler

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

LATENCY = "shopwise_http_request_duration_seconds"


def _parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _scrape(client: TestClient, auth: dict[str, str]) -> Samples:
    response = client.get("/metrics", headers=auth)
    assert response.status_code == 200, response.text
    return _parse(response.text)


def _value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a series not exposed (a counter never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def _runtime(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    return runtime


def _event(message_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "type": "page_viewed",
        "anonymous_id": "a-1",
        "timestamp": "2026-01-01T00:00:00Z",
        **fields,
    }


def test_a_scrape_needs_the_admin_key(
    client: TestClient,
    write_auth: dict[str, str],
    secret_auth: dict[str, str],
    admin_auth: dict[str, str],
) -> None:
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    assert client.get("/metrics", headers=write_auth).status_code == 403
    assert client.get("/metrics", headers=secret_auth).status_code == 403
    answer = client.get("/metrics", headers=admin_auth)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_requests_are_counted_by_route_template_method_and_status_class(
    client: TestClient, write_auth: dict[str, str], admin_auth: dict[str, str]
) -> None:
    before = _scrape(client, admin_auth)
    for product in ("secret-sku-1", "secret-sku-2"):
        assert client.get(f"/v1/products/{product}/similar", headers=write_auth).status_code == 404
    assert client.post("/v1/events", json={"batch": []}, headers=write_auth).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/route").status_code == 404
    assert client.request("BREW", "/healthz").status_code == 405
    response = client.get("/metrics", headers=admin_auth)
    after = _parse(response.text)

    def counted(method: str, route: str, status: str) -> float:
        labels = {"method": method, "route": route, "status": status}
        return _value(after, f"{LATENCY}_count", **labels) - _value(
            before, f"{LATENCY}_count", **labels
        )

    assert counted("GET", "/v1/products/{product_id}/similar", "4xx") == 2
    assert counted("POST", "/v1/events", "2xx") == 1  # a plain Starlette route, by its path
    assert counted("GET", "/healthz", "2xx") == 1
    assert counted("GET", "(no route)", "4xx") == 1
    assert counted("other", "/healthz", "4xx") == 1  # a client's made-up method is not a label
    assert counted("GET", "/metrics", "2xx") == 1  # the first scrape
    similar = {"method": "GET", "route": "/v1/products/{product_id}/similar", "status": "4xx"}
    assert _value(after, f"{LATENCY}_bucket", **similar, le="+Inf") == 2
    assert _value(after, f"{LATENCY}_sum", **similar) > 0
    assert "secret-sku" not in response.text and "/no/such/route" not in response.text


def test_recommendation_fallbacks_are_counted_from_the_answers(
    client: TestClient, write_auth: dict[str, str], admin_auth: dict[str, str]
) -> None:
    _runtime(client).catalog.upsert(
        [
            {"id": f"p{i}", "title": f"Product {i}", "price": 10 + i, "category": "Shoes"}
            for i in range(5)
        ]
    )
    before = _scrape(client, admin_auth)
    answers = [
        client.get(
            "/v1/recommendations",
            params={"placement": "home", "anonymous_id": "a-1"},
            headers=write_auth,
        ).json(),
        client.get("/v1/products/p1/similar", headers=write_auth).json(),
        client.get(
            "/v1/decide", params={"placement": "home", "anonymous_id": "a-2"}, headers=write_auth
        ).json(),
    ]
    after = _scrape(client, admin_auth)
    # no model is trained: the rules' fallback fills every list, and the answers say so
    assert answers[0]["fallback"] is not None and answers[0]["items"]
    assert all("model_missing" in answer["degraded"] for answer in answers)
    for fallback in {answer["fallback"] or "none" for answer in answers}:
        name, labels = "shopwise_recommendation_answers_total", {"fallback": fallback}
        expected = sum((answer["fallback"] or "none") == fallback for answer in answers)
        assert _value(after, name, **labels) - _value(before, name, **labels) == expected
    name = "shopwise_recommendation_degraded_total"
    assert _value(after, name, reason="model_missing") - _value(
        before, name, reason="model_missing"
    ) == len(answers)


def test_ingestion_counts_accepted_duplicate_and_rejected_events(
    client: TestClient, write_auth: dict[str, str], admin_auth: dict[str, str]
) -> None:
    batch = [
        _event("m-1"),
        _event("m-2"),
        {"type": "page_viewed"},
        _event("m-3", anonymous_id=None),
    ]
    first = client.post("/v1/events", json={"batch": batch}, headers=write_auth).json()
    again = client.post("/v1/events", json={"batch": [_event("m-1")]}, headers=write_auth).json()
    assert (first["accepted"], again["duplicates"]) == (2, 1)
    codes = [rejection["code"] for rejection in first["rejected"]]
    assert sorted(codes) == ["invalid_envelope", "missing_identity"]
    samples = _scrape(client, admin_auth)
    assert _value(samples, "shopwise_events_accepted_total") == 2
    assert _value(samples, "shopwise_events_duplicate_total") == 1
    for code in codes:
        assert _value(samples, "shopwise_events_rejected_total", code=code) == 1
        # the dead letters are read from the store at scrape: pending until replayed
        assert _value(samples, "shopwise_dead_letters_pending", code=code) == 1


def test_job_runs_are_read_from_the_store_at_scrape(
    client: TestClient, admin_auth: dict[str, str]
) -> None:
    def fail(_progress: object) -> dict[str, Any]:
        raise RuntimeError("the job broke")

    ok = Job("metrics-ok", 3600, lambda _progress: {"done": 1})
    broken = Job("metrics-broken", 3600, fail)
    ten_minutes_ago = time.time() - 600
    scheduler = Scheduler(_runtime(client).engine, [ok, broken], clock=lambda: ten_minutes_ago)
    assert scheduler.run_once(ok) == {"done": 1}
    scheduler.run_once(broken)
    samples = _scrape(client, admin_auth)
    runs = "shopwise_job_runs_total"
    assert _value(samples, runs, job="metrics-ok", status="succeeded") == 1
    assert _value(samples, runs, job="metrics-broken", status="failed") == 1
    age = _value(samples, "shopwise_job_last_success_age_seconds", job="metrics-ok")
    assert 600 <= age < 660
    assert (
        "shopwise_job_last_success_age_seconds",
        frozenset({("job", "metrics-broken")}),
    ) not in (samples)
    assert scheduler.run_once(ok) is not None
    assert _value(_scrape(client, admin_auth), runs, job="metrics-ok", status="succeeded") == 2


def test_bus_lag_is_read_from_the_consumers_stored_positions(
    client: TestClient, write_auth: dict[str, str], admin_auth: dict[str, str]
) -> None:
    runtime = _runtime(client)
    batch = [_event(f"m-{i}") for i in range(3)]
    assert client.post("/v1/events", json={"batch": batch}, headers=write_auth).status_code == 200
    with runtime.engine.connect() as conn:
        ids = sa.select(sa.func.min(events.c.id), sa.func.max(events.c.id))
        first, head = conn.execute(ids).one()
    assert runtime.bus.wait_until_consumed(head, timeout=10)
    with write_transaction(runtime.engine) as conn:
        # a consumer that has read nothing yet, its oldest unread event received 2 minutes ago
        conn.execute(bus_offsets.insert().values(consumer="lagging", position=0, updated_at=0))
        received = int((time.time() - 120) * 1000)
        conn.execute(events.update().where(events.c.id == first).values(received_at=received))
    samples = _scrape(client, admin_auth)
    assert _value(samples, "shopwise_bus_lag_events", consumer="profiles") == 0
    assert _value(samples, "shopwise_bus_lag_seconds", consumer="profiles") == 0
    assert _value(samples, "shopwise_bus_lag_events", consumer="lagging") == head
    assert 120 <= _value(samples, "shopwise_bus_lag_seconds", consumer="lagging") < 180


def test_model_champions_are_read_from_the_registry(
    client: TestClient, settings: Settings, admin_auth: dict[str, str]
) -> None:
    registry = ModelRegistry(settings.models_dir, "metrics-test")
    first = registry.save({"weights": [1]}, {})
    samples = _scrape(client, admin_auth)
    info = "shopwise_model_champion_info"
    assert _value(samples, info, family="metrics-test", version=first) == 1
    assert 0 <= _value(samples, "shopwise_model_champion_age_seconds", family="metrics-test") < 60
    second = registry.save({"weights": [2]}, {})
    samples = _scrape(client, admin_auth)
    assert _value(samples, info, family="metrics-test", version=second) == 1
    assert (info, frozenset({("family", "metrics-test"), ("version", first)})) not in samples


@pytest.fixture
def two_clients(tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    apps = []
    for name in ("one", "two"):
        settings = Settings(data_dir=tmp_path / name, log_level="WARNING")
        apps.append(create_app(settings, Runtime.build(settings, migrate=True)))
    with TestClient(apps[0]) as one, TestClient(apps[1]) as two:
        yield one, two


def test_each_app_counts_in_its_own_registry(two_clients: tuple[TestClient, TestClient]) -> None:
    one, two = two_clients
    auth = [
        {"Authorization": f"Bearer {_runtime(c).keys.create(KeyKind.ADMIN)[1]}"} for c in (one, two)
    ]
    for _ in range(3):
        one.get("/healthz")
    two.get("/healthz")
    health = {"method": "GET", "route": "/healthz", "status": "2xx"}
    assert _value(_scrape(one, auth[0]), f"{LATENCY}_count", **health) == 3
    assert _value(_scrape(two, auth[1]), f"{LATENCY}_count", **health) == 1
    global_text = prometheus_client.generate_latest().decode()
    assert "shopwise_" not in global_text  # nothing in the library's default registry


def test_a_store_that_cannot_be_read_is_reported_not_raised(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, "recommenders")
    version = registry.save({"weights": [1]}, {})
    unmigrated = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    collected = prometheus_client.CollectorRegistry()
    collected.register(StoreReadings(unmigrated, tmp_path))
    samples = _parse(prometheus_client.generate_latest(collected).decode())
    assert _value(samples, "shopwise_store_up") == 0
    assert not any(name.startswith("shopwise_job_") for name, _ in samples)
    # what does not come from the store is still served
    assert (
        _value(samples, "shopwise_model_champion_info", family="recommenders", version=version) == 1
    )


def test_job_runs_are_tallied_once_each_reading_only_the_unsettled_rows(
    settings: Settings,
) -> None:
    runtime = Runtime.build(settings, migrate=True)
    now = time.time()
    hour_ago = int((now - 3600) * 1000)
    collected = prometheus_client.CollectorRegistry()
    collected.register(StoreReadings(runtime.engine, settings.models_dir, clock=lambda: now))

    def insert(status: str, finished: bool, at: int = hour_ago) -> int:
        row = {
            "job": "tally",
            "owner": "w",
            "status": status,
            "started_at": at,
            "heartbeat_at": at,
            "finished_at": at if finished else None,
            "detail": {},
        }
        with write_transaction(runtime.engine) as conn:
            inserted = conn.execute(job_runs.insert().values(**row).returning(job_runs.c.id))
            return int(inserted.scalar_one())

    def scrape() -> Samples:
        return _parse(prometheus_client.generate_latest(collected).decode())

    insert("succeeded", True)
    running = insert("running", False)
    insert("failed", True)
    samples = scrape()
    runs = "shopwise_job_runs_total"
    assert _value(samples, runs, job="tally", status="succeeded") == 1
    assert _value(samples, runs, job="tally", status="failed") == 1
    assert _value(samples, "shopwise_job_runs_unfinished", job="tally", status="running") == 1
    # the running run finishes; the failed run after it was not settled, so it is not counted twice
    with write_transaction(runtime.engine) as conn:
        finish = job_runs.update().where(job_runs.c.id == running)
        conn.execute(finish.values(status="succeeded", finished_at=hour_ago + 1000))
    insert("succeeded", True, at=int(now * 1000))  # just now: read again until it settles
    for _ in range(2):
        samples = scrape()
        assert _value(samples, runs, job="tally", status="succeeded") == 3
        assert _value(samples, runs, job="tally", status="failed") == 1
        assert _value(samples, "shopwise_job_runs_unfinished", job="tally", status="running") == 0
        assert _value(samples, "shopwise_job_last_success_age_seconds", job="tally") < 1
    runtime.engine.dispose()
