"""``shopwise worker``: bus consumers and scheduled jobs (candidate refresh every 15 minutes)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from shopwise.cli._common import console, open_runtime
from shopwise.jobs import Scheduler


def worker(
    refresh_minutes: float = typer.Option(15.0, min=0.1, help="Candidate refresh interval."),
    model: str = typer.Option("transition", help="Model the refresh job trains."),
    once: bool = typer.Option(False, "--once", help="Run every job once, then exit."),
) -> None:
    """Run scheduled jobs; jobs take a database lock so two workers never run the same one."""
    from shopwise.models.jobs import refresh_job

    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with open_runtime() as runtime:
        jobs = [refresh_job(runtime, model, refresh_minutes * 60)]
        scheduler = Scheduler(runtime.engine, jobs)
        if once:
            for job in jobs:
                console.print(f"{job.name}: {scheduler.run_once(job)}")
            return
        console.print(f"worker running {', '.join(j.name for j in jobs)}; Ctrl-C stops it")
        scheduler.run_forever(stop)
