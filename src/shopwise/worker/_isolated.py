"""Jobs that run in a process of their own, so the worker keeps none of the memory they used.

A job that reads the whole population (the customer scores read every consented event, score
every profile and write every score) needs memory in proportion to the store. Run inside the
long-lived worker, much of it stays with the worker after the job: the allocator keeps freed
pages to reuse, and the job's peak becomes the worker's size. :func:`in_own_process` runs such a
job in a freshly spawned process with its own :class:`~shopwise.runtime.Runtime` built from the
worker's settings; the operating system takes all of its memory back when it exits.

The worker still holds the job's lock and records its run (:class:`~shopwise.worker.Scheduler`):
the job's progress messages come back over a pipe and renew the lease as they would in-process,
the job's result becomes the run's detail, with the process's peak resident memory added
(``peak_rss_mib``), and an exception in the job, or the process dying, fails the run. A job
process whose worker is gone (killed) exits at once instead of finishing a run that no worker
records.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

from shopwise.logs import Progress, configure_logging
from shopwise.runtime import Runtime
from shopwise.settings import Settings

Task = Callable[[Runtime, Progress], dict[str, Any]]
"""The work of a job run in its own process: a module-level function (or a ``functools.partial``
of one), since the spawned process imports it by name."""

PARENT_POLL_SECONDS: Final = 1.0
"""How often a job process checks that its worker still lives, and the worker that it does."""

_PROGRESS: Final = "progress"
_DONE: Final = "done"
_FAILED: Final = "failed"


class JobProcessError(RuntimeError):
    """The job failed in its own process (the message names the error there), or the process
    died before it answered."""


def in_own_process(settings: Settings, task: Task) -> Callable[[Progress], dict[str, Any]]:
    """A job function that runs ``task`` in a spawned process (see the module docstring)."""

    def run(progress: Progress) -> dict[str, Any]:
        spawn = multiprocessing.get_context("spawn")
        receiver, sender = spawn.Pipe(duplex=False)
        process = spawn.Process(
            target=_child, args=(settings, task, sender, os.getpid()), daemon=True
        )
        process.start()
        sender.close()
        try:
            return _answer(receiver, process, progress)
        finally:
            receiver.close()
            process.join(PARENT_POLL_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()

    return run


def _answer(
    receiver: Connection, process: multiprocessing.process.BaseProcess, progress: Progress
) -> dict[str, Any]:
    """Forward the job process's progress until it answers; its result, or the error raised."""
    while True:
        if not receiver.poll(PARENT_POLL_SECONDS):
            if not process.is_alive():
                raise JobProcessError(f"the job's process exited with {process.exitcode}")
            continue
        try:
            kind, payload = receiver.recv()
        except EOFError:
            process.join(PARENT_POLL_SECONDS)
            raise JobProcessError(f"the job's process exited with {process.exitcode}") from None
        if kind == _PROGRESS:
            progress(payload)
        elif kind == _DONE:
            return dict(payload)
        else:
            raise JobProcessError(payload)


def _child(settings: Settings, task: Task, sender: Connection, parent: int) -> None:
    """The job process: build a runtime, run ``task``, send its result or its error."""
    configure_logging(settings.log_level)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    runtime = Runtime.build(settings)
    try:
        result = task(runtime, lambda message: sender.send((_PROGRESS, message)))
    except Exception as exc:  # boundary: the worker records the error with the failed run
        sender.send((_FAILED, f"{exc.__class__.__name__}: {exc}"))
    else:
        sender.send((_DONE, {**result, "peak_rss_mib": _peak_rss_mib()}))
    finally:
        runtime.engine.dispose()
        sender.close()


def _exit_with(parent: int) -> None:
    """End this process as soon as the worker that started it is gone."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _peak_rss_mib() -> float | None:
    """This process's peak resident memory (``VmHWM``), ``None`` where ``/proc`` is missing.

    Not ``getrusage``: its ``ru_maxrss`` survives the exec that starts a spawned process, so it
    would report the worker's resident memory at the moment it started the job.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except FileNotFoundError:
        return None
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return round(int(kib) / 1024, 1)
