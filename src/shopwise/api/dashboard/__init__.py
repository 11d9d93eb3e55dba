"""The operator's dashboard at ``/dashboard``, and the small page at ``/``.

Server-rendered (Jinja2) pages over the same services as the admin API: KPIs, experiments,
models and drift (:mod:`._insight`); jobs, segments, triggers and deliveries, privacy requests
and the audit log, ingestion (:mod:`._operations`); the rules and content editor with a preview
of a shopper's page slot (:mod:`._editor`); login, logout and static files (:mod:`._access`).
Charts are plotly figures drawn by the plotly.js that ships in the Python ``plotly`` package, so
nothing is fetched from another host. An operator logs in with an admin API key and holds a
signed session cookie (:mod:`._session`); every page that shows personal data is audited under
that key, as the admin API audits its reads.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from shopwise.api.dashboard import _access, _editor, _insight, _operations
from shopwise.api.dashboard._session import NeedsLogin

__all__ = ["install_dashboard"]


async def _to_login(_request: Request, _exc: Exception) -> Response:
    return RedirectResponse("/dashboard/login", status_code=303)


def install_dashboard(app: FastAPI) -> None:
    """Serve the dashboard's pages and ``GET /`` from ``app``; a page asked for without a
    valid session answers with a redirect to the login form."""
    for module in (_access, _insight, _operations, _editor):
        app.include_router(module.router)
    app.add_exception_handler(NeedsLogin, _to_login)
