"""The service's API routes, CLI commands, worker job and score hook on the trained demo shop."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
import sqlalchemy as sa
import typer
from fastapi.testclient import TestClient
from tests.intelligence.conftest import TrainedShop
from tests.journeys.conftest import Receiver, make_outbox, receiver
from typer.testing import CliRunner

from shopwise.api import create_app
from shopwise.api.scores import router
from shopwise.auth import KeyKind
from shopwise.cli.intelligence import register
from shopwise.customers import FAMILIES
from shopwise.customers import _scores as scores_module
from shopwise.journeys import AudienceDelivery, deliver_audiences, last_delivered
from shopwise.runtime import Runtime
from shopwise.store import customer_scores, segment_memberships
from shopwise.worker import Scheduler, audiences_job, customer_jobs, recent_runs

__all__ = ["receiver"]  # the journeys tests' local webhook endpoint, a fixture here too

pytestmark = pytest.mark.slow  # loads and trains the quick demo shop once (~25 s)


@pytest.fixture(scope="module")
def client(trained_shop: TrainedShop) -> Iterator[TestClient]:
    app = create_app(trained_shop.runtime.settings, trained_shop.runtime)
    app.include_router(router)
    # no context manager: the lifespan would start and stop the fixture's runtime a second time
    yield TestClient(app)


def _customer(trained: TrainedShop) -> tuple[str, str, str]:
    """A scored buyer's user id, one of its stitched anonymous ids and its profile id."""
    for customer in trained.shop.customers:
        profile = trained.runtime.profiles.canonical(customer.customer_id)
        if profile is None or "clv" not in trained.service.scores.scores_of(profile):
            continue
        for anonymous in customer.anonymous_ids:
            if trained.runtime.profiles.canonical(anonymous) == profile:
                return customer.customer_id, anonymous, profile
    raise AssertionError("no scored customer with a stitched anonymous id")


def test_scores_route_answers_by_any_linked_id(
    trained_shop: TrainedShop, client: TestClient
) -> None:
    user, anonymous, profile = _customer(trained_shop)
    secret = trained_shop.keys[KeyKind.SECRET]
    answers = [client.get(f"/v1/profiles/{i}/scores", headers=secret) for i in (user, anonymous)]
    assert all(answer.status_code == 200 for answer in answers)
    first, second = (answer.json() for answer in answers)
    assert first == second and first["profile_id"] == profile
    assert 0.0 <= first["scores"]["purchase_7d"] <= 1.0
    assert {"clv", "expected_purchases", "expected_order_value"} <= set(first["scores"])
    assert first["segment"] is not None
    assert first["scores"] == trained_shop.service.scores.scores_of(user)


def test_scores_route_checks_keys_and_ids(trained_shop: TrainedShop, client: TestClient) -> None:
    user, _, _ = _customer(trained_shop)
    assert client.get(f"/v1/profiles/{user}/scores").status_code == 401
    public = trained_shop.keys[KeyKind.WRITE]
    assert client.get(f"/v1/profiles/{user}/scores", headers=public).status_code == 403
    missing = client.get("/v1/profiles/nobody/scores", headers=trained_shop.keys[KeyKind.SECRET])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_refresh_route_rescores_one_profile(trained_shop: TrainedShop, client: TestClient) -> None:
    user, _, profile = _customer(trained_shop)
    before = client.get(f"/v1/profiles/{user}/scores", headers=trained_shop.keys[KeyKind.SECRET])
    answer = client.post(
        f"/v1/profiles/{user}/scores/refresh", headers=trained_shop.keys[KeyKind.SECRET]
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["profile_id"] == profile and body["scores"] == before.json()["scores"]
    assert body["scored_at"] > before.json()["scored_at"]


def test_segments_route_returns_sizes_over_time(
    trained_shop: TrainedShop, client: TestClient
) -> None:
    trained_shop.service.scores.refresh(trained_shop.service.frames())  # a second snapshot
    answer = client.get("/v1/segments?kind=segment", headers=trained_shop.keys[KeyKind.SECRET])
    assert answer.status_code == 200
    sizes = answer.json()["sizes"]
    snapshots = {row["recorded_at"] for row in sizes}
    assert len(snapshots) >= 2 and {row["kind"] for row in sizes} == {"segment"}
    latest = [row for row in sizes if row["recorded_at"] == max(snapshots)]
    stats = trained_shop.training["segments"]
    assert isinstance(stats, dict)
    assert {row["segment"] for row in latest} <= set(stats["segments"])
    assert all(row["customers"] > 0 for row in latest)


def test_export_route_needs_an_admin_key_and_writes_csv(
    trained_shop: TrainedShop, client: TestClient
) -> None:
    body = {"kind": "lookalike", "top_n": 25}
    denied = client.post(
        "/v1/audiences/export", json=body, headers=trained_shop.keys[KeyKind.SECRET]
    )
    assert denied.status_code == 403
    admin = trained_shop.keys[KeyKind.ADMIN]
    answer = client.post("/v1/audiences/export", json=body, headers=admin)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 25 and set(rows[0]) == {"hashed_email", "score"}
    bids = client.post("/v1/audiences/export", json={"kind": "bids"}, headers=admin)
    table = list(csv.DictReader(io.StringIO(bids.text)))
    assert table and all(0.5 <= float(row["multiplier"]) <= 2.0 for row in table)


def test_score_provider_feeds_decision_thresholds(trained_shop: TrainedShop) -> None:
    user, anonymous, _ = _customer(trained_shop)
    runtime = trained_shop.runtime
    runtime.score_provider = trained_shop.service.scores.scores_of
    assert runtime.scores(anonymous) == runtime.scores(user)
    assert "purchase_7d" in runtime.scores(user)
    assert runtime.scores("nobody") == {}


def test_worker_job_refreshes_scores_without_retraining(trained_shop: TrainedShop) -> None:
    versions = {f: trained_shop.service.models.registries[f].versions() for f in FAMILIES}
    jobs = customer_jobs(trained_shop.runtime.settings)
    detail = Scheduler(trained_shop.runtime.engine, jobs).run_once(jobs[0])
    assert detail is not None and detail["scores"] > 0 and detail["peak_rss_mib"] > 0
    assert {f: trained_shop.service.models.registries[f].versions() for f in FAMILIES} == versions
    run = recent_runs(trained_shop.runtime.engine, limit=1)[0]
    assert run["job"] == "refresh-customer-scores" and run["status"] == "succeeded"


def test_cli_trains_segments_and_exports_audiences(
    trained_shop: TrainedShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, train = typer.Typer(), typer.Typer()
    root.add_typer(train, name="train")
    register(train, root)
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(trained_shop.runtime.settings.data_dir))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    runner = CliRunner()
    before = trained_shop.service.models.registries["segments"].versions()
    trained = runner.invoke(root, ["train", "segments"])
    assert trained.exit_code == 0, trained.output
    assert "k = " in trained.output and "silhouette" in trained.output
    assert len(trained_shop.service.models.registries["segments"].versions()) == len(before) + 1
    lookalike, bids = tmp_path / "lookalike.csv", tmp_path / "bids.csv"
    args = ["audiences", "export", "--output", str(lookalike), "--bids", str(bids), "--top-n", "30"]
    exported = runner.invoke(root, args)
    assert exported.exit_code == 0, exported.output
    assert len(lookalike.read_text().splitlines()) == 31
    assert bids.read_text().startswith("audience,multiplier,customers,explanation")


def test_cli_fails_in_one_line_on_an_empty_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, train = typer.Typer(), typer.Typer()
    root.add_typer(train, name="train")
    register(train, root)
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(root, ["train", "propensity"])
    assert result.exit_code == 2 and "no consented events" in result.output


def test_a_consent_withdrawal_hides_scores_before_the_next_refresh(
    trained_shop: TrainedShop,
) -> None:
    user, anonymous, profile = _customer(trained_shop)
    runtime = trained_shop.runtime
    withdrawal = {
        "message_id": uuid.uuid4().hex,
        "type": "page_viewed",
        "user_id": user,
        "timestamp": datetime.now(UTC).isoformat(),
        "context": {"consent": {"purposes": {"personalization": False, "marketing": False}}},
    }
    result = runtime.collector.ingest([withdrawal])
    assert runtime.bus.wait_until_consumed(result.last_event_id, timeout=30)
    assert trained_shop.service.scores.scores_of(anonymous) == {}
    found = trained_shop.service.scores.profile_scores(user)
    assert found is not None and found["profile_id"] == profile
    assert found["scores"] == {} and found["segment"] is None


def _withdraw_advertising(runtime: Runtime, profile_id: str) -> None:
    identity = runtime.profiles.identity_of(profile_id)
    assert identity is not None
    user_id, anonymous_id = identity
    event = {
        "message_id": uuid.uuid4().hex,
        "type": "page_viewed",
        "timestamp": datetime.now(UTC).isoformat(),
        "context": {"consent": {"purposes": {"advertising": False}}},
        **({"user_id": user_id} if user_id else {"anonymous_id": anonymous_id}),
    }
    result = runtime.collector.ingest([event])
    assert runtime.bus.wait_until_consumed(result.last_event_id, timeout=30)


def _bodies(receiver: Receiver, kind: str) -> list[dict[str, object]]:
    found = [orjson.loads(r.body) for r in receiver.requests]
    return [body for body in found if body["type"] == kind]


def test_the_audiences_reach_a_webhook_as_changes_under_consent(
    trained_shop: TrainedShop, receiver: Receiver
) -> None:
    runtime, service = trained_shop.runtime, trained_shop.service
    outbox = make_outbox(runtime.engine, runtime.cipher)

    def deliver() -> tuple[AudienceDelivery, pd.DataFrame]:
        audience = service.audiences.lookalike_audience(service.frames(), top_n=20)
        done = deliver_audiences(
            runtime.engine, service.audiences, audience, receiver.url, outbox.enqueue
        )
        return done, audience.rows

    first, rows = deliver()
    assert (first.entered, first.exited) == (len(rows), 0) and len(rows) == 20
    assert first.bid_rows > 0
    leaver = str(rows.index[0])
    _withdraw_advertising(runtime, leaver)  # after the enqueue, before the send
    sent = outbox.dispatch_due(limit=1000)
    assert (sent.delivered, sent.suppressed) == (20, 1)  # 19 entries and the bids
    entered = _bodies(receiver, "audience.entered")
    assert len(entered) == 19 and all("@" not in r.body.decode() for r in receiver.requests)
    assert all(len(str(body["data"]["hashed_email"])) == 64 for body in entered)  # type: ignore[index]
    assert [b["data"]["segments"] for b in _bodies(receiver, "audience.bids")]  # type: ignore[index]

    second, rows = deliver()  # the leaver's features and the seed moved too: others may swap
    assert leaver not in rows.index and second.entered == second.exited >= 1
    outbox.dispatch_due(limit=1000)
    exits = {str(body["data"]["hashed_email"]) for body in _bodies(receiver, "audience.exited")}  # type: ignore[index]
    assert len(exits) == second.exited  # sent although the leaver refuses advertising now
    assert service.audiences.hashed_emails([leaver])[leaver] in exits

    third, _ = deliver()
    assert (third.entered, third.exited) == (0, 0)
    job = audiences_job(runtime, receiver.url, every_seconds=3600)
    detail = Scheduler(runtime.engine, [job]).run_once(job)
    assert detail is not None and detail["exited"] == 0  # the job's audience is larger
    with runtime.engine.connect() as conn:
        delivered = last_delivered(conn)
    assert len(delivered) == 20 + detail["entered"] and leaver not in delivered


def _stored_scores(runtime: Runtime) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with runtime.engine.connect() as conn:
        scores = conn.execute(
            sa.select(
                customer_scores.c.profile_id,
                customer_scores.c.name,
                customer_scores.c.value,
                customer_scores.c.model_version,
            )
        ).all()
        members = conn.execute(
            sa.select(
                segment_memberships.c.profile_id,
                segment_memberships.c.kind,
                segment_memberships.c.segment,
            )
        ).all()
    return sorted(tuple(row) for row in scores), sorted(tuple(row) for row in members)


def test_a_refresh_written_in_small_parts_stores_every_row(
    trained_shop: TrainedShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows are built and inserted a part at a time; every part lands, none twice."""
    service, runtime = trained_shop.service, trained_shop.runtime
    frames = service.frames()
    whole = service.scores.refresh(frames)
    expected = _stored_scores(runtime)
    assert len(expected[0]) == whole["scores"] > 7 and len(expected[1]) == whole["memberships"]
    monkeypatch.setattr(scores_module, "INSERT_ROWS", 7)
    parts = service.scores.refresh(frames)
    assert (parts["scores"], parts["memberships"]) == (whole["scores"], whole["memberships"])
    assert _stored_scores(runtime) == expected
