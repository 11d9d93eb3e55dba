"""``shopwise worker``: bus consumers and scheduled jobs (candidate refresh every 15 minutes)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

import typer

from shopwise.cli._common import console, fail, load_settings
from shopwise.errors import ShopwiseError

if TYPE_CHECKING:
    from shopwise.runtime import Runtime
    from shopwise.worker import Job


def worker(
    refresh_minutes: float = typer.Option(15.0, min=0.1, help="Candidate refresh interval."),
    retrain_hours: float = typer.Option(24.0, min=0.01, help="Recommender retraining interval."),
    scores_minutes: float = typer.Option(
        60.0, min=0.1, help="Customer score refresh interval (retraining when a day old)."
    ),
    model: str = typer.Option("shopwise", help="Recommender the retraining job trains."),
    jobs_only: bool = typer.Option(
        False, "--jobs-only", help="Leave the bus consumers to 'shopwise serve'."
    ),
    consumers_only: bool = typer.Option(
        False, "--consumers-only", help="Run only the bus consumers, no scheduled jobs."
    ),
    once: bool = typer.Option(False, "--once", help="Run the jobs that are due once, then exit."),
) -> None:
    """Run bus consumers and scheduled jobs; a job runs when due, in one worker at a time (a
    leased database lock), training in its own lane so it never delays the short jobs."""
    from shopwise.runtime import Runtime, long_lived_gc
    from shopwise.worker import worker_jobs

    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    if consumers_only and (jobs_only or once):
        fail("--consumers-only runs no jobs: it goes with neither --jobs-only nor --once")
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runtime = Runtime.build(load_settings(), migrate=True)
    runtime.start(consumers=not jobs_only)
    try:
        with long_lived_gc():
            _run(
                runtime,
                stop,
                consumers_only,
                once,
                lambda: worker_jobs(
                    runtime, model, refresh_minutes * 60, retrain_hours * 3600, scores_minutes * 60
                ),
            )
    except ShopwiseError as exc:
        fail(exc.message)
    finally:
        runtime.stop()


def _run(
    runtime: Runtime,
    stop: threading.Event,
    consumers_only: bool,
    once: bool,
    jobs_of: Callable[[], list[Job]],
) -> None:
    """The consumers alone until ``stop``, or the jobs: those due once, or on schedule."""
    from shopwise.worker import Scheduler

    if consumers_only:
        console.print("worker running the bus consumers; Ctrl-C stops it")
        stop.wait()
        return
    jobs = jobs_of()
    scheduler = Scheduler(runtime.engine, jobs)
    if once:
        for job in jobs:
            outcome = scheduler.run_due(job)
            console.print(f"{job.name}: {outcome.status} {outcome.detail}", markup=False)
        return
    console.print(f"worker running {', '.join(j.name for j in jobs)}; Ctrl-C stops it")
    scheduler.run_forever(stop)
