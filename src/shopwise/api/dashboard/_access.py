"""The way in: ``GET /`` (where to go), the login and logout of the dashboard, its static files.

The static files are public (a stylesheet, the chart script and plotly.js from the ``plotly``
package, so the dashboard works with no network beyond the server); the pages are not.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Final

from fastapi import APIRouter, Depends, Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from shopwise.api._runtime import runtime
from shopwise.api.dashboard._forms import form_fields
from shopwise.api.dashboard._render import STATIC, page
from shopwise.api.dashboard._session import (
    COOKIE,
    MAX_AGE_SECONDS,
    PATH,
    Operator,
    login,
    same_origin,
    session_token,
)
from shopwise.errors import AuthError

router = APIRouter(include_in_schema=False)

OWN_FILES: Final = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
STATIC_CACHE: Final = "public, max-age=3600"
"""How long a browser keeps a static file (they change only with a new release)."""


def plotly_js() -> Path:
    """The minified plotly.js that ships inside the Python ``plotly`` package."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """A small page pointing to the dashboard, the demo storefront and the API docs."""
    return page(request, "home.html", None)


@router.get("/dashboard/static/{name}")
def static_file(name: str) -> Response:
    """The dashboard's stylesheet and chart script, and plotly.js (``plotly.min.js``)."""
    if name == "plotly.min.js":
        path, media_type = plotly_js(), "text/javascript"
    elif name in OWN_FILES:
        path, media_type = STATIC / name, OWN_FILES[name]
    else:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": STATIC_CACHE})


@router.get("/dashboard/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html", None, error=None)


@router.post("/dashboard/login", dependencies=[Depends(same_origin)])
async def login_submit(request: Request) -> Response:
    """Check the posted admin key; on success set the session cookie and go to the overview."""
    fields = await form_fields(request)
    try:
        key = login(request, fields.get("api_key", ""))
    except AuthError as error:  # includes Forbidden: a valid key without the admin scope
        return page(request, "login.html", None, error.status, error=error.message)
    answer = RedirectResponse("/dashboard", status_code=303)
    answer.set_cookie(
        COOKIE,
        session_token(request, key),
        max_age=MAX_AGE_SECONDS,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return answer


@router.post("/dashboard/logout", dependencies=[Depends(same_origin)])
def logout(request: Request, key: Operator) -> Response:
    """End the session: the cookie is cleared and the logout audited."""
    runtime(request).audit.record(f"key:{key.id}", "dashboard.logout")
    answer = RedirectResponse("/dashboard/login", status_code=303)
    answer.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")
    return answer
