"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shopwise import __version__
from shopwise.api import catalog, events, health, profiles, rules, scores, segment, serving
from shopwise.api._errors import install_error_handlers
from shopwise.api._json import JsonResponse
from shopwise.api._middleware import RequestContext
from shopwise.logs import configure_logging
from shopwise.runtime import Runtime
from shopwise.settings import Settings


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """Build the HTTP API over the services of ``runtime`` (built from ``settings`` if absent)."""
    configure_logging(settings.log_level)
    rt = runtime or Runtime.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt.start(consumers=settings.api_consumers)
        try:
            yield
        finally:
            rt.stop()

    app = FastAPI(
        title="shopwise",
        version=__version__,
        default_response_class=JsonResponse,
        lifespan=lifespan,
    )
    app.state.runtime = rt
    install_error_handlers(app)
    app.add_middleware(RequestContext)
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(profiles.router)
    app.include_router(catalog.router)
    app.include_router(serving.router)
    app.include_router(rules.router)
    app.include_router(segment.router)
    app.include_router(scores.router)
    return app
