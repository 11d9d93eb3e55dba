"""The rules and content editor, and the preview of what one shopper would be shown.

Validating and saving go through the same code as ``PUT /v1/rules`` and ``PUT /v1/content``:
:func:`shopwise.decide.parse_yaml` against the document's model (the store's ``put`` runs it
again before writing), so the editor refuses exactly what the API refuses, with the error of
every field named; a saved version is live at once and audited as the API audits it
(``rules.changed``, ``content.changed``).

The preview asks serving's ``decide`` (``GET /v1/decide``) for the shopper behind a profile,
user or anonymous id, with the query checked by the API's own :func:`shopwise.api.serving.
parse_query`; it reads the shopper's profile, scores and segments, so it is audited
(``decision.previewed``, naming the profile). Serving treats it as any answer: when the shopper
consented to analytics, it is logged as an exposure like the answers their pages get.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel
from starlette.responses import HTMLResponse

from shopwise.api._auth import audited
from shopwise.api._documents import MAX_YAML_BYTES
from shopwise.api._runtime import runtime
from shopwise.api.dashboard._forms import form_fields
from shopwise.api.dashboard._render import page
from shopwise.api.dashboard._session import Operator, same_origin
from shopwise.api.serving import parse_query, serving_request
from shopwise.decide import BUILTIN_PLACEMENTS, ContentSet, RuleSet, VersionedStore, parse_yaml
from shopwise.errors import InvalidInput
from shopwise.runtime import Runtime

router = APIRouter(prefix="/dashboard", include_in_schema=False)

Kind = Literal["rules", "content"]
MODELS: Final[dict[str, type[BaseModel]]] = {"rules": RuleSet, "content": ContentSet}
PREVIEW_FIELDS: Final = ("placement", "shopper", "product_id", "category", "n")
"""The preview form's fields."""


def _store(rt: Runtime, kind: str) -> VersionedStore[Any]:
    store: VersionedStore[Any] = rt.rules if kind == "rules" else rt.content
    return store


def _documents(rt: Runtime, drafts: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each document kind's live version and history, with the text shown in its editor (the
    operator's draft where one was posted, else the live YAML)."""
    shown = {}
    for kind in MODELS:
        store = _store(rt, kind)
        live = store.live()
        shown[kind] = {
            "version": live.version,
            "text": drafts.get(kind, live.body),
            "history": store.history(),
        }
    return shown


def _editor_page(
    request: Request,
    key: Operator,
    *,
    status_code: int = 200,
    drafts: dict[str, str] | None = None,
    errors: dict[str, list[dict[str, Any]]] | None = None,
    notices: dict[str, str] | None = None,
    preview: dict[str, Any] | None = None,
    preview_form: dict[str, str] | None = None,
    preview_errors: list[dict[str, Any]] | None = None,
) -> HTMLResponse:
    rt = runtime(request)
    return page(
        request,
        "editor.html",
        key,
        status_code,
        active="editor",
        documents=_documents(rt, drafts or {}),
        errors=errors or {},
        notices=notices or {},
        placements=BUILTIN_PLACEMENTS,
        preview=preview,
        form=preview_form or {"placement": "home", "n": "8"},
        preview_errors=preview_errors or [],
        products=rt.catalog.snapshot() if preview else {},
    )


@router.get("/editor", response_class=HTMLResponse)
def editor(request: Request, key: Operator) -> HTMLResponse:
    """The live rule set and content blocks in YAML editors, and the preview form."""
    return _editor_page(request, key)


def _problems(error: InvalidInput) -> list[dict[str, Any]]:
    """An :class:`InvalidInput`'s field errors (one naming no field when it has none)."""
    return error.details or [{"field": "yaml", "message": error.message}]


@router.post("/editor/{kind}", dependencies=[Depends(same_origin)])
async def edit(request: Request, key: Operator, kind: Annotated[Kind, Path()]) -> HTMLResponse:
    """Validate (``action=validate``) or save (``action=save``) the posted YAML; 400 with every
    field's error when it does not validate."""
    fields = await form_fields(request)
    text = fields.get("yaml", "")
    drafts: dict[str, str] = {kind: text}
    try:
        if len(text.encode()) > MAX_YAML_BYTES:
            raise InvalidInput(
                f"yaml: the document is over {MAX_YAML_BYTES} bytes", code="invalid_yaml"
            )
        if fields.get("action") == "save":
            saved = _store(runtime(request), kind).put(text, key.id)
            audited(request, key, f"{kind}.changed", str(saved.version))
            notice = f"saved as version {saved.version}; live now"
            return _editor_page(request, key, notices={kind: notice})
        parse_yaml(text, MODELS[kind])
    except InvalidInput as error:
        return _editor_page(
            request, key, status_code=400, drafts=drafts, errors={kind: _problems(error)}
        )
    return _editor_page(request, key, drafts=drafts, notices={kind: "valid; not saved yet"})


@router.post("/preview", dependencies=[Depends(same_origin)])
async def preview(request: Request, key: Operator) -> HTMLResponse:
    """What serving decides for the shopper behind ``shopper`` on ``placement`` (audited)."""
    rt = runtime(request)
    fields = await form_fields(request)
    form = {name: fields.get(name, "").strip() for name in PREVIEW_FIELDS}
    try:
        decision, profile_id = _decide(rt, form)
    except InvalidInput as error:
        return _editor_page(
            request, key, status_code=400, preview_form=form, preview_errors=_problems(error)
        )
    audited(request, key, "decision.previewed", profile_id, {"placement": form["placement"]})
    return _editor_page(request, key, preview=decision, preview_form=form)


def _decide(rt: Runtime, form: dict[str, str]) -> tuple[dict[str, Any], str]:
    """Serving's decision for the preview form, and the canonical profile id it was made for."""
    shopper = form["shopper"]
    identity = rt.profiles.identity_of(shopper) if shopper else None
    if identity is None:
        message = "shopper: no profile has this profile, user or anonymous id"
        raise InvalidInput(message, details=[{"field": "shopper", "message": message}])
    user_id, anonymous_id = identity
    params = {
        "placement": form["placement"],
        "n": form["n"] or "8",
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "product_id": form["product_id"] or None,
        "category": form["category"] or None,
    }
    query = parse_query(urlencode({k: v for k, v in params.items() if v is not None}).encode())
    request = serving_request(query)
    asked = user_id or anonymous_id
    decision = rt.recommendations.decide(
        request, rt.scores(asked), rt.segments(asked), query.landing(None), preview=True
    )
    profile_id = rt.profiles.canonical(shopper) or shopper
    return decision, profile_id
