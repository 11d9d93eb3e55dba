"""The drift job acts: it requests a retraining that the scheduler then runs, and notifies the
shop through the outbox (a signed webhook the delivery job sends); no drift does nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from tests.drift.helpers import drift_shop

from shopwise import store
from shopwise.journeys import verify_signature
from shopwise.logs import Progress
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.worker import (
    DRIFT_JOB,
    Job,
    Scheduler,
    deliver_job,
    drift_job,
    recent_runs,
    request_run,
    worker_jobs,
)

HOUR = 3600.0


@dataclass
class Received:
    """What the local webhook endpoint got: each request's headers and body."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 204


@pytest.fixture
def endpoint() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.requests.append((dict(self.headers.items()), body))
            self.send_response(received.status)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/drift", received
    server.shutdown()
    server.server_close()


def _runtime(settings: Settings, **changes: Any) -> Runtime:
    built = Settings(data_dir=settings.data_dir, log_level="WARNING", **changes)
    runtime = Runtime.build(built, migrate=True)
    runtime.start()
    return runtime


def _counting(name: str) -> tuple[Job, list[int]]:
    calls: list[int] = []

    def run(_progress: Progress) -> dict[str, Any]:
        calls.append(1)
        return {"calls": len(calls)}

    return Job(name, 24 * HOUR, run, lane="long"), calls


def _statuses(engine: sa.Engine, job: str) -> list[str]:
    query = sa.select(store.job_runs.c.status).where(store.job_runs.c.job == job)
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(store.job_runs.c.id)).scalars())


def test_drift_requests_the_retraining_the_scheduler_then_runs_and_posts_a_signed_webhook(
    settings: Settings, endpoint: tuple[str, Received]
) -> None:
    url, received = endpoint
    runtime = _runtime(settings, drift_webhook_url=url, webhook_secret="a-test-secret")
    try:
        retrain, calls = _counting("retrain-test")
        scheduler = Scheduler(runtime.engine, [retrain], "test-worker")
        assert scheduler.run_due(retrain).status == "succeeded"
        assert scheduler.run_due(retrain).status == "not_due"  # daily: done for today
        shop = drift_shop(runtime)
        shop.add_recent("surge")
        check = drift_job(runtime, "retrain-test")
        outcome = Scheduler(runtime.engine, [check], "test-worker").run_due(check)
        assert outcome.status == "succeeded", outcome.detail
        detail = outcome.detail
        assert detail["verdict"] == "drift" and "category" in detail["drifted"]
        requested = detail["retrain_run_id"]
        shown = recent_runs(runtime.engine, job="retrain-test")[0]
        assert (shown["id"], shown["status"]) == (requested, "requested")
        assert "drift in" in shown["detail"]["reason"]

        assert scheduler.due_at(retrain) <= int(time.time() * 1000)
        ran = scheduler.run_due(retrain)
        assert ran.status == "succeeded" and calls == [1, 1]
        answered = recent_runs(runtime.engine, job="retrain-test")
        request = next(r for r in answered if r["id"] == requested)
        assert request["status"] == "consumed" and request["detail"]["run_id"] == ran.run_id
        assert scheduler.run_due(retrain).status == "not_due"

        assert received.requests == []  # committed to the outbox, sent by the delivery job
        sent = deliver_job(runtime)
        assert Scheduler(runtime.engine, [sent], "test-worker").run_due(sent).status == "succeeded"
        ((headers, body),) = received.requests
        assert verify_signature(
            b"a-test-secret", headers["X-Shopwise-Timestamp"], body, headers["X-Shopwise-Signature"]
        )
        assert headers["Idempotency-Key"].startswith("drift:")
        payload = orjson.loads(body)
        data = payload.get("data", payload)
        assert data["event"] == "drift.detected" and data["retrain_run_id"] == requested
        assert "category" in [f["name"] for f in data["drifted"]]
        messages = sa.select(store.outbox_messages.c.id, store.outbox_messages.c.status)
        with runtime.engine.connect() as conn:
            assert list(conn.execute(messages)) == [(detail["notification"], "delivered")]
    finally:
        runtime.stop()


def test_no_drift_requests_nothing_and_posts_nothing(
    settings: Settings, endpoint: tuple[str, Received]
) -> None:
    url, received = endpoint
    runtime = _runtime(settings, drift_webhook_url=url)
    try:
        shop = drift_shop(runtime)
        shop.add_recent("none")
        check = drift_job(runtime, "retrain-test")
        outcome = Scheduler(runtime.engine, [check], "test-worker").run_due(check)
        assert outcome.detail["verdict"] == "no_drift" and outcome.detail["drifted"] == []
        assert "retrain_run_id" not in outcome.detail and received.requests == []
        assert _statuses(runtime.engine, "retrain-test") == []
    finally:
        runtime.stop()


def test_the_drift_job_waits_for_a_champion_and_says_when_data_is_short(
    settings: Settings,
) -> None:
    runtime = _runtime(settings)
    try:
        check = drift_job(runtime, "retrain-test")
        scheduler = Scheduler(runtime.engine, [check], "test-worker")
        assert scheduler.run_due(check).status == "skipped"
        drift_shop(runtime)  # a champion, but no recent events
        outcome = scheduler.run_once(check)
        assert outcome is not None and outcome["verdict"] == "not_enough_data"
        assert "recent window" in outcome["reason"]
        names = [job.name for job in worker_jobs(runtime, "transition", 900.0, 86400.0)]
        assert DRIFT_JOB in names
    finally:
        runtime.stop()


def test_requests_are_not_stacked_and_a_waiting_lane_notices_one(settings: Settings) -> None:
    engine = store.create_engine(settings)
    store.upgrade(engine)
    job, calls = _counting("nightly")
    now = [time.time()]
    scheduler = Scheduler(engine, [job], "test-worker", clock=lambda: now[0])
    scheduler.run_due(job)
    first = request_run(engine, "nightly", "drift")
    assert request_run(engine, "nightly", "drift again") == first
    stop = threading.Event()
    lanes = threading.Thread(target=scheduler.run_forever, args=(stop, 0.01))
    lanes.start()
    try:
        now[0] += 31  # past the lane's next look for requests; the job itself is due tomorrow
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        lanes.join()
    assert len(calls) == 2
    assert _statuses(engine, "nightly") == ["succeeded", "consumed", "succeeded"]
    engine.dispose()
