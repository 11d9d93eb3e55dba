"""The HTTP API: thin routers over the stage services, one error format, bearer-key auth."""

from shopwise.api._app import create_app

__all__ = ["create_app"]
