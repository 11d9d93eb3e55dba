"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shopwise import __version__
from shopwise.api import (
    catalog,
    drift,
    events,
    experiment_results,
    experiments,
    health,
    jobs,
    kpis,
    metrics,
    models,
    privacy,
    profiles,
    rules,
    scores,
    sdk,
    serving,
    storefront,
    tracking_api,
    triggers,
)
from shopwise.api._cors import Cors
from shopwise.api._errors import install_error_handlers
from shopwise.api._json import JsonResponse
from shopwise.api._metrics import ApiMetrics
from shopwise.api._middleware import RequestContext
from shopwise.api._openapi import install_docs
from shopwise.api._runtime import ShopwiseApi
from shopwise.api.dashboard import install_dashboard
from shopwise.logs import configure_logging
from shopwise.runtime import Runtime, long_lived_gc
from shopwise.settings import Settings


def create_app(settings: Settings, runtime: Runtime | None = None) -> ShopwiseApi:
    """Build the HTTP API over the services of ``runtime`` (built from ``settings`` if absent)."""
    configure_logging(settings.log_level)
    rt = runtime or Runtime.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt.start(consumers=settings.api_consumers)
        try:
            with long_lived_gc():
                yield
        finally:
            rt.stop()

    app = ShopwiseApi(
        rt,
        title="shopwise",
        version=__version__,
        default_response_class=JsonResponse,
        lifespan=lifespan,
        docs_url=None,  # install_docs serves the pages without a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    # one registry per app: tests build several apps in one process
    app.state.metrics = api_metrics = ApiMetrics(rt.engine, rt.settings.models_dir)
    rt.collector.observe(api_metrics.ingested)
    app.add_middleware(RequestContext, observe=api_metrics.request)
    # added last, so outermost: the 500 that RequestContext answers carries CORS headers too
    app.add_middleware(Cors, origins=settings.cors_origins)
    # Routes are matched in order: the two hottest (every page asks for recommendations and
    # sends events) go first, as plain Starlette routes (see api.serving and api.events).
    app.router.routes.extend([*serving.plain_routes, *events.plain_routes])
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(profiles.router)
    app.include_router(catalog.router)
    app.include_router(serving.router)
    app.include_router(rules.router)
    app.include_router(tracking_api.router)
    app.include_router(scores.router)
    app.include_router(privacy.router)
    app.include_router(kpis.router)
    app.include_router(experiments.router)
    app.include_router(experiment_results.router)
    app.include_router(jobs.router)
    app.include_router(drift.router)
    app.include_router(models.router)
    app.include_router(metrics.router)
    app.include_router(triggers.router)
    app.include_router(storefront.router)
    app.include_router(sdk.router)
    install_dashboard(app)
    install_docs(app)
    return app
