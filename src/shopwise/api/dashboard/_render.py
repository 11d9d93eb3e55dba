"""Server-side rendering of the dashboard's pages: one Jinja2 environment over ``templates/``.

Autoescaping is on for every template, so nothing a shopper or an event sent (a dead letter's raw
body, a product title) can become markup. Charts travel as plotly figure JSON inside
``<script type="application/json">`` (Jinja's ``tojson`` escapes ``<``, ``>``, ``&`` and ``'``),
and ``static/dashboard.js`` draws them with the plotly.js of the Python ``plotly`` package.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import jinja2
import orjson
from fastapi import Request
from starlette.responses import HTMLResponse

from shopwise.auth import ApiKey

TEMPLATES: Final = Path(__file__).parent / "templates"
STATIC: Final = Path(__file__).parent / "static"

NAV: Final = (
    ("overview", "Overview", "/dashboard"),
    ("experiments", "Experiments", "/dashboard/experiments"),
    ("models", "Models", "/dashboard/models"),
    ("jobs", "Jobs", "/dashboard/jobs"),
    ("segments", "Segments", "/dashboard/segments"),
    ("journeys", "Triggers", "/dashboard/journeys"),
    ("privacy", "Privacy", "/dashboard/privacy"),
    ("ingestion", "Ingestion", "/dashboard/ingestion"),
    ("editor", "Rules", "/dashboard/editor"),
)
"""The dashboard's pages in the navigation: (name, label, path)."""


def _json(value: Any, **options: Any) -> str:
    """Jinja's ``tojson`` with orjson: NaN and infinities become ``null``, which ``JSON.parse``
    accepts (``json.dumps`` would write ``NaN``); ``indent`` indents."""
    option = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    if options.get("indent"):
        option |= orjson.OPT_INDENT_2
    return orjson.dumps(value, option=option, default=str).decode()


def when(value: int | float | str | datetime | None) -> str:
    """A moment as the dashboard shows it: UTC, to the second (epoch ms, ISO text or datetime)."""
    if value is None or value == "" or isinstance(value, jinja2.Undefined):
        return "-"
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value / 1000, UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        moment = value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def number(value: Any, digits: int = 3) -> str:
    """A number for a table cell: ``-`` for none, integers as they are, others rounded."""
    if value is None or isinstance(value, jinja2.Undefined):
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def percent(value: Any) -> str:
    """A share as a percentage (``-`` for none or anything not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{100 * value:.1f}%"


@functools.cache
def environment() -> jinja2.Environment:
    """The templates' environment (built once per process; it holds no request state)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["json.dumps_function"] = _json
    env.filters.update(when=when, number=number, percent=percent)
    env.globals["nav"] = NAV
    return env


def page(
    request: Request,
    template: str,
    key: ApiKey | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The rendered ``template`` (``key``: the operator, ``None`` on the login page)."""
    html = environment().get_template(template).render(request=request, operator=key, **context)
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )
