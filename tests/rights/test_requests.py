"""Privacy requests across processes and from the command line."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from tests.kpis.helpers import T0, Log
from typer.testing import CliRunner

from shopwise import store
from shopwise.bus import StoredEvent
from shopwise.cli import app
from shopwise.experiments import ExperimentSpec
from shopwise.kpis import KpiRefresh
from shopwise.profiles import anon_key, profile_id_for
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.stats import Sketch
from shopwise.worker import Scheduler, privacy_job

runner = CliRunner()


def _view(anonymous_id: str, user_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "message_id": uuid.uuid4().hex,
        "type": "product_viewed",
        "anonymous_id": anonymous_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "properties": {"product_id": "p1"},
    }
    if user_id is not None:
        event["user_id"] = user_id
    return event


def _started(settings: Settings) -> Runtime:
    runtime = Runtime.build(settings, migrate=True)
    runtime.start()
    return runtime


def test_an_erasure_run_by_one_process_reaches_another(settings: Settings) -> None:
    """Two runtimes on one store stand for two server processes."""
    first, second = _started(settings), _started(settings)
    try:
        stored = first.collector.ingest([_view("a-gone", "u-gone"), _view("a-kept")])
        assert first.bus.wait_until_consumed(stored.last_event_id, timeout=30)
        second.collector.ingest([_view("a-gone")])
        assert second.online.recent("a-gone", None)
        assert second.profiles.current("a-gone") is not None
        first.rights.request_erasure("u-gone", "test")
        [done] = first.rights.run_pending()
        assert done["status"] == "verified"
        assert second.rights.catch_up() == 1  # its watcher does this every poll
        assert second.online.recent("a-gone", None) == []
        assert second.profiles.current("a-gone") is None
        late = second.collector.ingest([_view("a-gone")])
        assert (late.accepted, late.suppressed) == (0, 1)
        assert second.rights.catch_up() == 0
    finally:
        second.stop()
        first.stop()


def test_a_batch_read_before_an_erasure_does_not_bring_the_profile_back(
    settings: Settings,
) -> None:
    """The profile consumer may hold a batch the erasure deletes; folding it after must not
    recreate the person (nor put them back in this process's profile cache)."""
    runtime = Runtime.build(settings, migrate=True)
    read: list[StoredEvent] = []
    runtime.bus.subscribe("read-before", read.extend)
    runtime.start()
    try:
        stored = runtime.collector.ingest([_view("a-race", "u-race"), _view("a-stays")])
        assert runtime.bus.wait_until_consumed(stored.last_event_id, timeout=30)
        runtime.rights.request_erasure("u-race", "test")
        [done] = runtime.rights.run_pending()
        assert done["status"] == "verified"
        runtime.profiles.consume(read)  # the late fold of what the bus read before
        assert runtime.profiles.current("a-race") is None
        assert runtime.profiles.current("u-race") is None
        assert runtime.profiles.current("a-stays") is not None
    finally:
        runtime.stop()


def test_the_worker_runs_erasures_left_pending(settings: Settings) -> None:
    runtime = _started(settings)
    try:
        stored = runtime.collector.ingest([_view("a-left", "u-left")])
        assert runtime.bus.wait_until_consumed(stored.last_event_id, timeout=30)
        request = runtime.rights.request_erasure("u-left", "test")
        job = privacy_job(runtime)
        detail = Scheduler(runtime.engine, [job]).run_once(job)
        assert detail == {"erasures": [request["request_id"]]}
        assert runtime.rights.request(request["request_id"])["status"] == "verified"  # type: ignore[index]
    finally:
        runtime.stop()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    return Settings(data_dir=tmp_path / "var", log_level="WARNING")


def test_the_cli_exports_erases_and_shows_a_request(env: Settings, tmp_path: Path) -> None:
    runtime = _started(env)
    stored = runtime.collector.ingest([_view("a-cli", "u-cli")])
    assert runtime.bus.wait_until_consumed(stored.last_event_id, timeout=30)
    runtime.stop()
    target = tmp_path / "person.json"
    exported = runner.invoke(app, ["privacy", "export", "u-cli", "--output", str(target)])
    assert exported.exit_code == 0, exported.output
    document = orjson.loads(target.read_bytes())
    assert document["identities"]["user_ids"] == ["u-cli"] and len(document["events"]) == 1
    erased = runner.invoke(app, ["privacy", "erase", "u-cli"])
    assert erased.exit_code == 0, erased.output
    request_id, rest = erased.output.split(" ", 1)
    assert "verified" in rest
    shown = runner.invoke(app, ["privacy", "status", request_id])
    assert shown.exit_code == 0 and orjson.loads(shown.output)["status"] == "verified"
    missing = runner.invoke(app, ["privacy", "erase", "u-cli"])
    assert missing.exit_code == 2 and "no profile" in missing.output
    unknown = runner.invoke(app, ["privacy", "status", "nope"])
    assert unknown.exit_code == 2 and "no privacy request" in unknown.output


def test_an_erasure_removes_assignments_made_before_the_profile_existed(
    settings: Settings,
) -> None:
    """A visitor is assigned under the id their own profile would get; if their events then
    join another profile, that id names no profile, yet the erasure must find the row."""
    runtime = _started(settings)
    try:
        stored = runtime.collector.ingest([_view("a-first", "u-exp"), _view("a-second", "u-exp")])
        assert runtime.bus.wait_until_consumed(stored.last_event_id, timeout=30)
        runtime.experiments.create(
            ExperimentSpec.model_validate(
                {"id": "home", "variants": [{"name": "control"}, {"name": "treatment"}]}
            )
        )
        runtime.experiments.start("home")
        units = [profile_id_for(anon_key(a)) for a in ("a-first", "a-second")]
        other = profile_id_for(anon_key("a-other"))
        for unit in units:
            runtime.assigner("home", unit)
        runtime.assigner.flush()
        for unit in [*units, other]:  # held in memory, the other one pending
            runtime.assigner("home", unit)
        request = runtime.rights.request_erasure("u-exp", "test")
        [done] = runtime.rights.run_pending()
        assert done["status"] == "verified", done
        assert done["details"]["removed"]["experiment_assignments"] == len(units)
        assert not runtime.assigner.holds(units)
        assert runtime.assigner.flush() == 1  # the other shopper's assignment was kept
        with runtime.engine.connect() as conn:
            table = store.experiment_assignments
            left = conn.execute(sa.select(table.c.profile_id)).scalars().all()
        assert left == [other]
        assert request["request_id"] == done["request_id"]
    finally:
        runtime.stop()


def _sketched(engine: sa.Engine, column: str, member: str) -> int:
    """The KPI rows whose ``column`` sketch keeps ``member``'s hash."""
    query = sa.select(store.kpi_buckets.c[column]).where(store.kpi_buckets.c[column].is_not(None))
    with engine.connect() as conn:
        return sum(Sketch.from_bytes(data).holds(member) for data in conn.scalars(query))


def test_an_erasure_takes_the_person_out_of_the_kpi_sketches(settings: Settings) -> None:
    """The KPI job's sketches of small slices and hours keep hashes of the visitors' profile ids
    and of the orders' ids; erasure takes the person's out and the verification looks."""
    runtime = _started(settings)
    try:
        stored = runtime.collector.ingest([_view("a-gone"), _view("a-kept")])
        assert runtime.bus.wait_until_consumed(stored.last_event_id, timeout=30)
        log = Log()
        for shopper in ("a-gone", "a-kept"):
            answer = log.answer(shopper, T0 + 10, ["p1"])
            log.click(shopper, T0 + 20, answer, "p1")
            log.order(shopper, T0 + 30, f"o-{shopper}", {"p1": 5.0})
        log.flush(runtime.engine)
        KpiRefresh(runtime.engine, runtime.consent).run()
        gone, kept = (profile_id_for(anon_key(a)) for a in ("a-gone", "a-kept"))
        assert _sketched(runtime.engine, "visitor_sketch", gone) == 2  # its slice and hour
        assert _sketched(runtime.engine, "order_sketch", "o-a-gone") == 2
        runtime.rights.request_erasure("a-gone", "test")
        [done] = runtime.rights.run_pending()
        assert done["status"] == "verified"
        assert "kpi_buckets sketches" in done["details"]["verification"]["searched"]
        assert done["details"]["removed"]["kpi_sketches"] == 2
        assert _sketched(runtime.engine, "visitor_sketch", gone) == 0
        assert _sketched(runtime.engine, "order_sketch", "o-a-gone") == 0
        assert _sketched(runtime.engine, "visitor_sketch", kept) == 2
        assert _sketched(runtime.engine, "order_sketch", "o-a-kept") == 2
    finally:
        runtime.stop()
