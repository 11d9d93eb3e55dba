"""``shopwise serve`` and ``shopwise demo``: run the HTTP API (the demo builds a shop first)."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING

# The serving stack (FastAPI, uvicorn, the models) loads only when a server is about to run.
if TYPE_CHECKING:
    import sqlalchemy as sa
    from fastapi import FastAPI

    from shopwise.runtime import Runtime
    from shopwise.settings import Settings

log = logging.getLogger("shopwise.serve")


def prepare_runtime(settings: Settings) -> Runtime:
    """A runtime whose store is migrated when new; an outdated one is left to the operator."""
    from shopwise.runtime import Runtime

    runtime = Runtime.build(settings)
    _migrate_if_new(runtime.engine)
    return runtime


def _migrate_if_new(engine: sa.Engine) -> None:
    """Migrate a new store; an outdated one is left to the operator (logged)."""
    from shopwise import store

    if not store.current_revisions(engine):
        store.upgrade(engine)
    elif not store.is_current(engine):
        log.warning("store has pending migrations; run 'shopwise db upgrade' (/readyz says 503)")


CONSUMER_LOCK = "api-consumers.lock"
"""File in ``data_dir`` whose lock names the one worker process that runs the embedded bus's
consumers (two would fold the same events twice: it keeps one position per consumer)."""


def run_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve with ``workers`` uvicorn processes on one port, each building its own runtime.

    The store is migrated here first (when new), once, not by every worker at the same time.
    """
    import uvicorn

    from shopwise import store

    engine = store.create_engine(settings)
    try:
        _migrate_if_new(engine)
    finally:
        engine.dispose()
    uvicorn.run(
        "shopwise.cli.serve:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        lifespan="on",
    )


def worker_app() -> FastAPI:
    """The app of one ``serve --workers`` process, from ``SHOPWISE_*`` like the parent's.

    With the embedded bus only the process holding the consumer lock runs the consumers (the
    others serve, their profile caches short-lived; if that process dies, uvicorn starts another
    that takes the lock). On Redis Streams every process runs them: partitions are leased.
    """
    from shopwise.api import create_app
    from shopwise.cli._common import load_settings

    settings = load_settings()
    lock = None
    if settings.api_consumers and settings.redis_url is None:
        lock = _consumer_lock(settings.data_dir)
        if lock is None:
            settings = settings.model_copy(update={"api_consumers": False})
    app = create_app(settings)
    app.state.consumer_lock = lock  # held as long as the process lives
    log.info(
        "serve worker started",
        extra={"worker_pid": os.getpid(), "consumers": settings.api_consumers},
    )
    return app


def _consumer_lock(data_dir: Path) -> IO[bytes] | None:
    """The open, locked consumer lock file, or ``None`` when another process holds it."""
    handle = (data_dir / CONSUMER_LOCK).open("a+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def run_server(settings: Settings, runtime: Runtime, host: str, port: int) -> None:
    import uvicorn

    from shopwise.api import create_app

    app = create_app(settings, runtime)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
