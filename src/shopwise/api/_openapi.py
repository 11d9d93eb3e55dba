"""The API's OpenAPI schema, complete, and its documentation pages, served without a CDN.

FastAPI documents the routes it runs. The hottest routes are plain Starlette routes that it cannot
see (``POST /v1/events``, ``GET /v1/recommendations`` and the Segment-compatible ingestion, see
their modules), so they are described here, declaratively (:data:`PLAIN_OPERATIONS`), from pydantic
models of what they read and answer, and merged into FastAPI's schema when ``/openapi.json`` is
first asked; the routes themselves stay as they are. Every operation also documents the error
envelope of its 4xx answers (FastAPI's 422 is replaced: validation errors are 400 here, see
``api._errors``) and its security scheme. ``/docs`` (Swagger UI) and ``/redoc`` load their scripts
from the files the ``fastapi-offline`` package ships, mounted under :data:`ASSETS`, so they work
on a machine with no internet access.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, swagger_ui_default_parameters
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema
from starlette.responses import HTMLResponse

from shopwise.api.serving import ShopperQuery
from shopwise.api.tracking_api import PREFIX, ROOT_BATCH_PATHS
from shopwise.catalog import ProductIn
from shopwise.collect import MAX_BATCH_EVENTS
from shopwise.collect.tracking_api import CALL_TYPES
from shopwise.schema import Envelope

__all__ = ["ASSETS", "PLAIN_OPERATIONS", "ErrorEnvelope", "complete_schema", "install_docs"]

ASSETS: Final = "/docs/assets"
"""Where Swagger UI's and ReDoc's scripts are served from (the ``fastapi-offline`` package)."""

SECURITY_SCHEMES: Final = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "An API key: `Bearer <key>`."},
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "Segment's scheme: the write key as user name, an empty password.",
    },
}

PUBLIC: Final = frozenset(
    {("/healthz", "get"), ("/readyz", "get"), (f"{PREFIX}/projects/{{write_key}}/settings", "get")}
)
"""Operations that need no ``Authorization`` header (the probes; the settings take the write key
in their path). Every other FastAPI operation takes a bearer key."""

_REF: Final = "#/components/schemas/{model}"


class ErrorBody(BaseModel):
    """What went wrong: ``code`` for machines, ``message`` (naming the field) for people."""

    code: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)
    request_id: str | None = None
    """The request's id (also the ``X-Request-ID`` header), to find it in the server log."""


class ErrorEnvelope(BaseModel):
    """Every 4xx and 5xx answer of the API."""

    error: ErrorBody


class EventBatch(BaseModel):
    """The body of ``POST /v1/events``. Each event is checked on its own: an invalid one is
    rejected (and dead-lettered) with its reason, the others are stored."""

    batch: Annotated[list[Envelope], Field(max_length=MAX_BATCH_EVENTS)]


class RejectedEvent(BaseModel):
    """One event of a batch that was refused, by its index in the batch."""

    index: int
    code: str
    message: str


class IngestAnswer(BaseModel):
    """The answer to an event batch, once the accepted events are committed."""

    accepted: int
    duplicates: int
    rejected: list[RejectedEvent]
    suppressed: int
    """Valid events of erased people, dropped."""


class RecommendedItem(BaseModel):
    product_id: str
    score: float
    reasons: list[str]


class Recommendations(BaseModel):
    """Products for one placement, ranked for the shopper, with what produced them."""

    recommendation_id: str
    placement: str
    items: list[RecommendedItem]
    model_version: str | None
    rules_version: int
    rules_fired: list[str]
    fallback: str | None
    personalized: bool
    degraded: list[str]
    experiment: dict[str, Any] | None


class SegmentMessage(BaseModel):
    """One Segment (or RudderStack) call; fields Segment defines beyond these are accepted."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: Literal["track", "identify", "page", "screen", "alias", "group"] | None = None
    """The call type; implied by the path on the single-call routes."""
    message_id: str | None = Field(None, alias="messageId")
    user_id: str | None = Field(None, alias="userId")
    anonymous_id: str | None = Field(None, alias="anonymousId")
    previous_id: str | None = Field(None, alias="previousId")
    group_id: str | None = Field(None, alias="groupId")
    event: str | None = None
    name: str | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    timestamp: str | None = None
    sent_at: str | None = Field(None, alias="sentAt")
    write_key: str | None = Field(None, alias="writeKey")
    """The write key, for clients that cannot send a header (analytics.js)."""


class SegmentBatch(BaseModel):
    """A Segment batch: messages of any call type, with a context shared by all of them."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    batch: list[SegmentMessage]
    context: dict[str, Any] | None = None
    sent_at: str | None = Field(None, alias="sentAt")
    write_key: str | None = Field(None, alias="writeKey")


class SegmentSuccess(BaseModel):
    """Segment's answer, once the accepted messages are committed (invalid ones are
    dead-lettered with their reason)."""

    success: Literal[True]


class ProductBatch(BaseModel):
    """The body of ``PUT /v1/catalog/products``: all products valid, or none stored."""

    products: Annotated[list[ProductIn], Field(max_length=1000)]


@dataclass(frozen=True)
class PlainOperation:
    """One operation of plain Starlette routes, as the schema shows it (at each of ``paths``)."""

    paths: tuple[str, ...]
    method: Literal["get", "post"]
    tag: str
    summary: str
    answer: type[BaseModel]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    security: tuple[str, ...] = ("bearer",)
    description: str = ""


_SEGMENT_AUTH: Final = ("basic", "bearer")
_SEGMENT_LIMITS: Final = (
    "Authentication: HTTP Basic with the write key as user name, a Bearer key, or the body's "
    "`writeKey`. The body may be gzip (`Content-Encoding: gzip`)."
)

PLAIN_OPERATIONS: Final = (
    PlainOperation(
        paths=("/v1/events",),
        method="post",
        tag="events",
        summary="Store a batch of events",
        answer=IngestAnswer,
        body=EventBatch,
        description="Needs a key with `events:write`. Invalid events are rejected one by one.",
    ),
    PlainOperation(
        paths=("/v1/recommendations",),
        method="get",
        tag="serving",
        summary="Products for a placement, ranked for this shopper",
        answer=Recommendations,
        query=ShopperQuery,
        description=(
            "`user_id` or `anonymous_id` is required except on product, category and search "
            "placements; a write key may only ask for its own `anonymous_id`."
        ),
    ),
    PlainOperation(
        paths=(*(f"{PREFIX}{path}" for path in ("/batch", "/import", "/b")), *ROOT_BATCH_PATHS),
        method="post",
        tag="segment",
        summary="A batch of Segment messages",
        answer=SegmentSuccess,
        body=SegmentBatch,
        security=_SEGMENT_AUTH,
        description=_SEGMENT_LIMITS,
    ),
    *(
        PlainOperation(
            paths=(f"{PREFIX}/{call_type}", f"{PREFIX}/{call_type[0]}"),
            method="post",
            tag="segment",
            summary=f"One Segment `{call_type}` call",
            answer=SegmentSuccess,
            body=SegmentMessage,
            security=_SEGMENT_AUTH,
            description=_SEGMENT_LIMITS,
        )
        for call_type in CALL_TYPES
    ),
)
"""Every plain route of the app (``tests/api/test_openapi.py`` checks that none is missing)."""


def _model_schemas(models: Iterable[type[BaseModel]]) -> dict[str, Any]:
    """The component schemas of ``models`` and of the models they use, by name."""
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    definitions: dict[str, Any] = top.get("$defs", {})
    return definitions


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


ERROR_RESPONSE: Final = _json(
    ErrorEnvelope,
    "Refused: 400 invalid input (the field is named), 401 no or unknown key, 403 the key lacks "
    "the scope, 404 not found, 413 too large, 429 rate limited (`Retry-After`).",
)


_YAML: Final = {"content": {"application/yaml": {"schema": {"type": "string"}}}, "required": True}

RAW_BODIES: Final[dict[tuple[str, str], dict[str, Any]]] = {
    ("/v1/catalog/products", "put"): {
        "required": True,
        "content": {"application/json": {"schema": _ref(ProductBatch)}},
    },
    ("/v1/rules", "put"): _YAML,
    ("/v1/content", "put"): _YAML,
}
"""Request bodies of the FastAPI routes that read their body themselves (size-limited, YAML)."""


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The query parameters of ``model``'s fields (arrays as repeated parameters)."""
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": field}
        for name, field in schema["properties"].items()
    ]


def _operation(op: PlainOperation, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "tags": [op.tag],
        "summary": op.summary,
        "description": op.description,
        "operationId": op.method + re.sub(r"\W+", "_", path),
        "security": [{scheme: []} for scheme in op.security],
        "responses": {"200": _json(op.answer, op.answer.__doc__ or op.summary)},
    }
    if op.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(op.body)}},
        }
    if op.query is not None:
        operation["parameters"] = _query_parameters(op.query)
    return operation


def _comparable(value: Any) -> Any:
    """``value`` without ``"default": null`` entries (FastAPI leaves them out, pydantic not)."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if not (k == "default" and v is None)}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _merge_components(schemas: dict[str, Any], found: dict[str, Any]) -> None:
    """Add ``found`` to ``schemas``; a name already there must mean the same schema (models
    of :mod:`shopwise.schema` are used by FastAPI routes too)."""
    for name, definition in found.items():
        if _comparable(schemas.setdefault(name, definition)) != _comparable(definition):
            raise ValueError(f"two different schemas are named {name!r} in the OpenAPI schema")


def _document_bodies_errors_and_security(paths: dict[str, Any]) -> None:
    for path, item in paths.items():
        for method, operation in item.items():
            responses = operation["responses"]
            responses.pop("422", None)
            responses["4XX"] = ERROR_RESPONSE
            if (path, method) in RAW_BODIES:
                operation["requestBody"] = RAW_BODIES[path, method]
            if "security" not in operation:
                public = (path, method) in PUBLIC
                operation["security"] = [] if public else [{"bearer": []}]


def complete_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's ``schema`` with the plain routes, the error envelope and security added."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    models: set[type[BaseModel]] = {ErrorEnvelope, ProductBatch}
    models |= {op.answer for op in PLAIN_OPERATIONS}
    models |= {op.body for op in PLAIN_OPERATIONS if op.body is not None}
    _merge_components(schemas, _model_schemas(sorted(models, key=lambda m: m.__name__)))
    paths = schema.setdefault("paths", {})
    for op in PLAIN_OPERATIONS:
        for path in op.paths:
            paths.setdefault(path, {})[op.method] = _operation(op, path)
    _document_bodies_errors_and_security(paths)
    components["securitySchemes"] = SECURITY_SCHEMES
    return schema


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = complete_schema(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    return openapi


def _pages(app: FastAPI) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The Swagger UI and ReDoc pages, loading everything from this server."""
    parameters = {**swagger_ui_default_parameters, "validatorUrl": None}

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters=parameters,
        )

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    return swagger_ui, redoc


def install_docs(app: FastAPI) -> None:
    """Serve the complete schema at ``app.openapi_url``, and ``/docs`` and ``/redoc`` offline.

    ``app`` is built with ``docs_url=None, redoc_url=None`` (FastAPI's own pages load from a CDN).
    """
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    swagger_ui, redoc = _pages(app)
    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")
