"""``shopwise serve`` and ``shopwise demo``: run the HTTP API (the demo builds a shop first)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

# The serving stack (FastAPI, uvicorn, the models) loads only when a server is about to run.
if TYPE_CHECKING:
    from shopwise.runtime import Runtime
    from shopwise.settings import Settings

log = logging.getLogger("shopwise.serve")


def prepare_runtime(settings: Settings) -> Runtime:
    """A runtime whose store is migrated when new; an outdated one is left to the operator."""
    from shopwise import store
    from shopwise.runtime import Runtime

    runtime = Runtime.build(settings)
    if not store.current_revisions(runtime.engine):
        store.upgrade(runtime.engine)
    elif not store.is_current(runtime.engine):
        log.warning("store has pending migrations; run 'shopwise db upgrade' (/readyz says 503)")
    return runtime


def run_server(settings: Settings, runtime: Runtime, host: str, port: int) -> None:
    import uvicorn

    from shopwise.api import create_app

    app = create_app(settings, runtime)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
