"""The application object and how a route reaches the process's services."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from shopwise.runtime import Runtime


class ShopwiseApi(FastAPI):
    """The FastAPI application of one process, holding that process's :class:`Runtime`."""

    def __init__(self, runtime: Runtime, **options: Any) -> None:
        super().__init__(**options)
        self.runtime = runtime


def runtime(request: Request) -> Runtime:
    """The services behind the request's application (see :func:`shopwise.api.create_app`)."""
    app: ShopwiseApi = request.scope["app"]
    return app.runtime
