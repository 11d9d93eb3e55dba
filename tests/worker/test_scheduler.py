"""The scheduler: due from the store, leased locks, lanes, and runs that wait for a model.

Each test runs on a real migrated SQLite store; where time matters the scheduler gets a fake clock.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests._clock import Clock
from tests.conftest import quick_demo

from shopwise import store
from shopwise.logs import Progress
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.worker import RETRY_SECONDS, Job, Scheduler, recommender_jobs, worker_jobs

HOUR = 3600.0


@pytest.fixture
def built(settings: Settings) -> Iterator[Runtime]:
    """A runtime built on a migrated store, not started (no consumers, no model watchers)."""
    runtime = Runtime.build(settings, migrate=True)
    yield runtime
    runtime.stop()


@pytest.fixture
def engine(settings: Settings) -> Iterator[sa.Engine]:
    created = store.create_engine(settings)
    store.upgrade(created)
    yield created
    created.dispose()


def _counting(name: str, every: float = HOUR, **fields: Any) -> tuple[Job, list[int]]:
    calls: list[int] = []

    def run(_progress: Progress) -> dict[str, Any]:
        calls.append(1)
        return {"calls": len(calls)}

    return Job(name, every, run, **fields), calls


def _runs(engine: sa.Engine, job: str) -> list[tuple[str, str]]:
    query = (
        sa.select(store.job_runs.c.owner, store.job_runs.c.status)
        .where(store.job_runs.c.job == job)
        .order_by(store.job_runs.c.id)
    )
    with engine.connect() as conn:
        return [(row.owner, row.status) for row in conn.execute(query)]


def test_a_restart_within_the_schedule_runs_nothing_that_is_not_due(engine: sa.Engine) -> None:
    clock = Clock(time.time())
    job, calls = _counting("nightly", every=24 * HOUR)
    assert Scheduler(engine, [job], "first", clock=clock).run_due(job).status == "succeeded"
    clock.now += HOUR  # the worker restarts an hour later
    restarted = Scheduler(engine, [job], "second", clock=clock)
    outcome = restarted.run_due(job)
    assert outcome.status == "not_due" and calls == [1]
    assert restarted.due_at(job) == outcome.detail["due_at"]
    clock.now += 23 * HOUR + 1
    assert restarted.run_due(job).status == "succeeded" and calls == [1, 1]
    assert _runs(engine, "nightly") == [("first", "succeeded"), ("second", "succeeded")]


def test_a_restarted_worker_loop_runs_only_the_due_jobs(engine: sa.Engine) -> None:
    """The bug: every job, the daily retraining included, ran whenever a worker started."""
    daily, daily_calls = _counting("daily", every=24 * HOUR, lane="long")
    often, often_calls = _counting("often", every=0.2)
    Scheduler(engine, [daily, often], "first").run_due(daily)
    stop = threading.Event()
    loop = threading.Thread(
        target=Scheduler(engine, [daily, often], "second").run_forever, args=(stop, 0.05)
    )
    loop.start()
    deadline = time.monotonic() + 10  # a loaded machine (CI, coverage) may be slow
    while len(often_calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    loop.join(timeout=10)
    assert daily_calls == [1]
    assert len(often_calls) >= 2  # the short job ran again and again meanwhile


def test_two_workers_never_run_one_job_twice(settings: Settings) -> None:
    """Each worker has its own engine (as two processes would), both start at once, again and
    again; the job runs once, and the loser finds it held or, after it, not due."""
    calls: list[str] = []
    engines = [store.create_engine(settings) for _ in range(2)]
    store.upgrade(engines[0])

    def run(_progress: Progress) -> dict[str, Any]:
        calls.append(threading.current_thread().name)
        time.sleep(0.05)
        return {}

    job = Job("once", HOUR, run)
    workers = [Scheduler(e, [job], f"worker-{i}") for i, e in enumerate(engines)]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def race(worker: Scheduler) -> None:
        for _ in range(5):
            start.wait(timeout=10)
            outcomes.append(worker.run_due(job).status)

    threads = [threading.Thread(target=race, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(calls) == 1 and outcomes.count("succeeded") == 1
    assert set(outcomes) - {"succeeded"} <= {"held", "not_due"}
    assert [status for _owner, status in _runs(engines[0], "once")] == ["succeeded"]
    for engine in engines:
        engine.dispose()


_DOOMED = """
import sys, time
from pathlib import Path
from shopwise import store
from shopwise.settings import Settings
from shopwise.worker import Job, Scheduler

engine = store.create_engine(Settings(data_dir=Path(sys.argv[1]), log_level="WARNING"))
marker = Path(sys.argv[2])

def run(progress):
    marker.write_text("running")
    time.sleep(600)
    return {}

job = Job("long-one", 3600.0, run)
Scheduler(engine, [job], "doomed", lease_seconds=float(sys.argv[3])).run_due(job)
"""


def test_a_killed_workers_lock_expires_and_the_job_runs_again(
    settings: Settings, engine: sa.Engine, tmp_path: Path
) -> None:
    lease = 1.5
    marker = tmp_path / "running"
    doomed = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_DOOMED),
            str(settings.data_dir),
            str(marker),
            str(lease),
        ],
        env={**os.environ, "SHOPWISE_LOG_LEVEL": "WARNING"},
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert doomed.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        job, calls = _counting("long-one")
        other = Scheduler(engine, [job], "survivor", lease_seconds=lease)
        time.sleep(2 * lease)  # past the first lease: the heartbeat has renewed it
        assert other.run_due(job).status == "held"
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
    assert _runs(engine, "long-one") == [("doomed", "running")]
    time.sleep(lease + 0.2)
    outcome = other.run_due(job)
    assert outcome.status == "succeeded" and calls == [1]
    assert _runs(engine, "long-one") == [("doomed", "abandoned"), ("survivor", "succeeded")]


def test_the_lease_is_renewed_while_a_job_runs_longer_than_it(engine: sa.Engine) -> None:
    started, release = threading.Event(), threading.Event()

    def long(_progress: Progress) -> dict[str, Any]:
        started.set()
        assert release.wait(timeout=30)
        return {"done": True}

    job = Job("longer-than-lease", HOUR, long)
    first = Scheduler(engine, [job], "first", lease_seconds=0.6)
    runner = threading.Thread(target=first.run_due, args=(job,))
    runner.start()
    assert started.wait(timeout=10)
    time.sleep(1.5)  # two and a half leases
    second = Scheduler(engine, [job], "second", lease_seconds=0.6)
    assert second.run_once(job) is None  # held: renewed, not expired
    release.set()
    runner.join(timeout=10)
    with engine.connect() as conn:
        assert conn.execute(sa.select(store.job_locks)).all() == []  # released at the end
        beat = conn.execute(sa.select(store.job_runs.c.heartbeat_at)).scalar_one()
        started_at = conn.execute(sa.select(store.job_runs.c.started_at)).scalar_one()
    assert beat - started_at >= 1500
    assert _runs(engine, "longer-than-lease") == [("first", "succeeded")]


def test_progress_renews_the_lease_and_is_recorded(engine: sa.Engine) -> None:
    clock = Clock(time.time())
    seen: list[tuple[int, str]] = []

    def run(progress: Progress) -> dict[str, Any]:
        clock.now += 50  # within the 60 s lease, then progress renews it
        progress("halfway")
        clock.now += 50
        with engine.connect() as conn:
            lock = conn.execute(sa.select(store.job_locks.c.expires_at)).scalar_one()
            detail = conn.execute(sa.select(store.job_runs.c.detail)).scalar_one()
        seen.append((lock, detail["progress"]))
        return {}

    job = Job("talkative", HOUR, run)
    start = clock.now
    Scheduler(engine, [job], "w", clock=clock).run_due(job)
    assert seen == [(int((start + 50) * 1000) + 60_000, "halfway")]


def test_a_stale_running_row_is_marked_abandoned_when_the_job_is_next_taken(
    engine: sa.Engine,
) -> None:
    clock = Clock(time.time())
    old = int(clock.now * 1000) - 120_000
    with engine.begin() as conn:
        conn.execute(
            store.job_runs.insert().values(
                job="j",
                owner="gone",
                status="running",
                started_at=old - 1000,
                heartbeat_at=old,
                detail={"progress": "step 3"},
            )
        )
    job, _calls = _counting("j")
    Scheduler(engine, [job], "w", clock=clock).run_due(job)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(store.job_runs).order_by(store.job_runs.c.id)).all()
    assert [r.status for r in rows] == ["abandoned", "succeeded"]
    assert rows[0].finished_at == old  # its last sign of life
    assert rows[0].detail == {"progress": "step 3", "error": "the worker stopped heartbeating"}


def test_a_long_job_never_delays_a_short_one(engine: sa.Engine) -> None:
    long_started, release = threading.Event(), threading.Event()
    short_ran = threading.Event()

    def train(_progress: Progress) -> dict[str, Any]:
        long_started.set()
        assert release.wait(timeout=30)
        return {}

    def refresh(_progress: Progress) -> dict[str, Any]:
        if long_started.is_set() and not release.is_set():
            short_ran.set()
        return {}

    jobs = [Job("train", HOUR, train, lane="long"), Job("refresh", 0.1, refresh)]
    stop = threading.Event()
    loop = threading.Thread(target=Scheduler(engine, jobs, "w").run_forever, args=(stop, 0.02))
    loop.start()
    try:
        assert long_started.wait(timeout=10)
        assert short_ran.wait(timeout=10), "the short job waited for the long one"
    finally:
        release.set()
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()


def test_a_failed_run_records_its_error_and_waits_its_interval(engine: sa.Engine) -> None:
    clock = Clock(time.time())

    def broken(_progress: Progress) -> dict[str, Any]:
        raise RuntimeError("disk full")

    job = Job("broken", 600.0, broken)
    scheduler = Scheduler(engine, [job], "w", clock=clock)
    outcome = scheduler.run_due(job)
    assert (outcome.status, outcome.detail) == ("failed", {"error": "RuntimeError: disk full"})
    clock.now += 599
    assert scheduler.run_due(job).status == "not_due"
    clock.now += 2
    assert scheduler.run_due(job).status == "failed"


def test_a_failed_daily_job_is_retried_sooner_and_then_waits_a_day(engine: sa.Engine) -> None:
    """A retraining that failed (no events yet) must not wait a whole day to try again."""
    clock = Clock(time.time())
    failures = [RuntimeError("no events yet")]

    def train(_progress: Progress) -> dict[str, Any]:
        if failures:
            raise failures.pop()
        return {"trained": True}

    job = Job("retrain", 24 * HOUR, train, lane="long")
    scheduler = Scheduler(engine, [job], "w", clock=clock)
    assert scheduler.run_due(job).status == "failed"
    assert scheduler.due_at(job) == int(clock.now * 1000) + int(RETRY_SECONDS * 1000)
    clock.now += RETRY_SECONDS - 1
    assert scheduler.run_due(job).status == "not_due"
    clock.now += 2
    assert scheduler.run_due(job).status == "succeeded"
    clock.now += 23 * HOUR
    assert scheduler.run_due(job).status == "not_due"


def test_the_first_refresh_waits_for_a_model(built: Runtime) -> None:
    """The bug: on a fresh store the first refresh ran before any model existed and failed."""
    clock = Clock(time.time())
    refresh, retrain = recommender_jobs(built, "transition", 900, 86400)
    assert (refresh.lane, retrain.lane) == ("short", "long")
    scheduler = Scheduler(built.engine, [refresh, retrain], "w", clock=clock)
    outcome = scheduler.run_due(refresh)
    assert outcome.status == "skipped"
    assert outcome.detail["reason"].startswith("no recommender champion yet")
    assert _runs(built.engine, "refresh-candidates") == [("w", "skipped")]
    assert scheduler.due_at(refresh) == int(clock.now * 1000) + 900_000
    assert scheduler.due_at(retrain) == 0  # never trained: due at once


def test_a_champion_trained_outside_the_worker_counts_as_the_last_retraining(
    built: Runtime,
) -> None:
    """The bug: the demo's model was replaced by the worker 40 s after the demo trained it."""
    _refresh, retrain = recommender_jobs(built, "transition", 900, 86400)
    before = int(time.time() * 1000)
    built.recommenders.save({"stand-in": "artifact"}, {"model": "transition"}, promote=True)
    scheduler = Scheduler(built.engine, [retrain], "w")
    assert before + 86_400_000 <= scheduler.due_at(retrain) <= int(time.time() * 1000) + 86_400_000
    assert scheduler.run_due(retrain).status == "not_due"


def test_the_worker_puts_training_in_the_long_lane(built: Runtime) -> None:
    lanes = {job.name: job.lane for job in worker_jobs(built, "shopwise", 900, 86400)}
    assert lanes.pop("retrain-shopwise") == "long"
    assert set(lanes) == {
        "refresh-candidates",
        "refresh-customer-scores",
        "privacy-requests",
        "retention",
        "kpis",
        "drift-check",
        "journeys",
        "deliver-messages",
    }
    assert set(lanes.values()) == {"short"}


def test_the_scheduler_refuses_two_jobs_of_one_name(engine: sa.Engine) -> None:
    job, _calls = _counting("twin")
    with pytest.raises(ValueError, match="distinct"):
        Scheduler(engine, [job, job])


@pytest.mark.slow
def test_a_worker_started_after_the_demo_trained_runs_neither_retrain_nor_refresh(
    tmp_path: Path,
) -> None:
    """The bug, end to end: the demo trains, then starts its worker, which retrained at once."""
    with quick_demo(tmp_path / "var", "transition") as (_client, runtime, _shop):
        version = runtime.recommenders.champion()
        jobs = {job.name: job for job in worker_jobs(runtime, "transition", 900, 86400)}
        scheduler = Scheduler(runtime.engine, list(jobs.values()), "demo-worker")
        for name in ("retrain-transition", "refresh-candidates"):
            assert scheduler.run_due(jobs[name]).status == "not_due", name
        assert scheduler.run_due(jobs["kpis"]).status == "succeeded"  # never run: due
        assert runtime.recommenders.champion() == version
        later = Scheduler(
            runtime.engine, [jobs["refresh-candidates"]], "w", clock=Clock(time.time() + 901)
        )
        refreshed = later.run_due(jobs["refresh-candidates"])
        assert refreshed.status == "succeeded" and refreshed.detail["model_version"] == version


class _Cycle:
    """An object in a reference cycle: freed only by a garbage collection."""

    def __init__(self) -> None:
        self.me = self


def test_a_run_leaves_none_of_its_cyclic_garbage_behind(engine: sa.Engine) -> None:
    """The bug: with the worker's rare full passes, every journeys run added its cycles to the
    worker's memory."""
    left: list[weakref.ref[_Cycle]] = []

    def run(_progress: Progress) -> dict[str, Any]:
        left.append(weakref.ref(_Cycle()))
        return {}

    job = Job("cycles", 60.0, run)
    gc.disable()  # as rare as the worker's full passes
    try:
        Scheduler(engine, [job], "w").run_once(job)
        assert left[0]() is None
    finally:
        gc.enable()
