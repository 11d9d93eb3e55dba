"""Tasks for ``test_isolated``: module-level, so the spawned job process imports them by name."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from shopwise.logs import Progress
from shopwise.runtime import Runtime
from shopwise.store import job_runs


def report(runtime: Runtime, progress: Progress) -> dict[str, Any]:
    """Report progress twice; answer with this process's id and what the store holds."""
    progress("reading")
    with runtime.engine.connect() as conn:
        runs = conn.execute(job_runs.select()).all()
    progress("done reading")
    return {"pid": os.getpid(), "runs": len(runs)}


def fail(_runtime: Runtime, _progress: Progress) -> dict[str, Any]:
    raise ValueError("no champion to score with")


def die(_runtime: Runtime, _progress: Progress) -> dict[str, Any]:
    os._exit(3)


def linger(_runtime: Runtime, _progress: Progress, *, pid_file: Path) -> dict[str, Any]:
    """Write this process's id to ``pid_file``, then outlast any test."""
    pid_file.write_text(str(os.getpid()))
    time.sleep(600)
    return {}
