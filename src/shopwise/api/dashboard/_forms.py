"""Reading the dashboard's HTML forms (``application/x-www-form-urlencoded``).

The forms are plain posts, so the body is parsed with the standard library rather than a
multipart parser: no file is ever uploaded here. The body is read through the API's size check.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl

from fastapi import Request

from shopwise.api.events import read_body
from shopwise.errors import InvalidInput

MAX_FORM_BYTES: Final = 512 * 1024
"""The largest form accepted: a rule set of the editor's size limit, URL-encoded."""


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form's fields (the last value of a repeated one); 400 for a body that is not
    a URL-encoded UTF-8 form."""
    body = await read_body(request, MAX_FORM_BYTES)
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise InvalidInput("the form must be UTF-8", code="invalid_form") from None
    return dict(parse_qsl(text, keep_blank_values=True))
