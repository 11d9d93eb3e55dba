"""Jobs in a process of their own: result, progress, errors, no orphan outliving its worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tests.worker import _tasks

from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.worker import Job, Scheduler, recent_runs
from shopwise.worker._isolated import JobProcessError, in_own_process


def test_the_job_runs_in_another_process_and_its_progress_comes_back(
    settings: Settings, runtime: Runtime
) -> None:
    messages: list[str] = []
    result = in_own_process(settings, _tasks.report)(messages.append)
    assert result["pid"] != os.getpid()
    assert messages == ["reading", "done reading"]
    assert result["runs"] == 0 and result["peak_rss_mib"] > 0


def test_the_peak_memory_is_the_job_process_own_not_the_worker_it_started_from(
    settings: Settings, runtime: Runtime
) -> None:
    """The bug: ``ru_maxrss`` survives the spawn's exec, so a job reported the worker's size."""
    held = bytearray(512 * 2**20)  # the worker's memory, resident: zero-filled pages are not
    held[::4096] = b"x" * len(held[::4096])
    result = in_own_process(settings, _tasks.report)(lambda _message: None)
    assert result["peak_rss_mib"] < 400
    del held


def test_an_error_in_the_job_process_fails_the_run_with_its_message(
    settings: Settings, runtime: Runtime
) -> None:
    job = Job("score", 60.0, in_own_process(settings, _tasks.fail))
    Scheduler(runtime.engine, [job]).run_once(job)
    run = recent_runs(runtime.engine, limit=1)[0]
    assert run["status"] == "failed"
    assert run["detail"]["error"] == "JobProcessError: ValueError: no champion to score with"


def test_a_job_process_that_dies_fails_the_run(settings: Settings, runtime: Runtime) -> None:
    with pytest.raises(JobProcessError, match="exited with 3"):
        in_own_process(settings, _tasks.die)(lambda _message: None)


def test_the_job_process_exits_when_its_worker_is_killed(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    pid_file = tmp_path / "job.pid"
    script = textwrap.dedent(
        f"""
        import functools, pathlib
        from shopwise.settings import Settings
        from shopwise.worker._isolated import in_own_process
        from tests.worker import _tasks

        task = functools.partial(_tasks.linger, pid_file=pathlib.Path({str(pid_file)!r}))
        in_own_process(Settings(data_dir={str(settings.data_dir)!r}), task)(print)
        """
    )
    worker = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[2])
    try:
        job_pid = _wait_for_pid(pid_file)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        deadline = time.monotonic() + 15
        while _alive(job_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(job_pid)
    finally:
        worker.kill()


def _wait_for_pid(pid_file: Path) -> int:
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the job process never started"
        time.sleep(0.1)
    return int(pid_file.read_text())


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
