"""Recommendations, similar and complementary products, and page decisions.

``GET /v1/recommendations`` is the hottest read of the API (every page asks it), so, like the
ingestion route, it is a plain Starlette route on the event loop: the query is checked by one
pydantic model (and remembered, see :func:`page_request`) and the key by the cached lookup, with
no dependency resolution, no thread-pool hop and no response-model serialisation: the body is the
answer's JSON, rendered once per cached answer, with the response's recommendation id spliced in
(``Served.json``). Serving itself never waits on I/O once the shopper's profile is cached (see
``Profiles.current``); a cache miss is one indexed SQLite read. The key is read from the ASGI
scope's header list. Errors keep the app's format: 400 ``invalid_request`` with the offending
field named (a bad query is refused before the key is checked), 401/403/429 from the key. Being a
Starlette route it is missing from the generated OpenAPI schema; ``/v1/decide``, which takes the
same parameters, is listed there.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response
from starlette.routing import Route

from shopwise.api._auth import authorize, bearer_token, grant, runtime
from shopwise.api._json import RenderedJson
from shopwise.auth import ApiKey, Scope
from shopwise.errors import Forbidden, InvalidInput
from shopwise.serving import RecommendationRequest

router = APIRouter(prefix="/v1", tags=["serving"])

PLACEMENT = r"^[a-z0-9_\-]{1,64}$"
IDENTITY_OPTIONAL = ("product", "category", "search")
"""Placements that may be served without a shopper id (product and listing pages)."""

Id = Annotated[str | None, Field(max_length=128)]


class ShopperQuery(BaseModel):
    """The query parameters of a page slot (unknown parameters are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    placement: Annotated[str, Field(pattern=PLACEMENT)]
    n: Annotated[int, Field(ge=1, le=100)] = 10
    user_id: Id = None
    anonymous_id: Id = None
    product_id: Id = None
    cart: list[str] | None = None
    category: Annotated[str | None, Field(max_length=200)] = None
    query: Annotated[str | None, Field(max_length=512)] = None


def parse_query(query_string: bytes) -> ShopperQuery:
    """A query string as a :class:`ShopperQuery`; 400 naming the field otherwise.

    A repeated parameter keeps its last value, except ``cart``, which keeps them all.
    """
    pairs = query_pairs(query_string)
    raw: dict[str, Any] = dict(pairs)
    if "cart" in raw:
        raw["cart"] = [value for name, value in pairs if name == "cart"]
    try:
        return ShopperQuery.model_validate(raw)
    except ValidationError as exc:
        details = [
            {
                "field": ".".join(str(part) for part in err["loc"]) or "request",
                "code": err["type"],
                "message": err["msg"],
            }
            for err in exc.errors(include_url=False)
        ]
        first = details[0]
        raise InvalidInput(
            f"{first['field']}: {first['message']}", code="invalid_request", details=details
        ) from None


def query_pairs(query_string: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of a query string, as Starlette's ``request.query_params`` reads
    them (blank values kept), without building its multi-dict: the common query, with nothing
    escaped, is split directly."""
    text = query_string.decode("latin-1")
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True)
    return [(name, value) for name, _, value in (p.partition("=") for p in text.split("&") if p)]


def serving_request(query: ShopperQuery) -> RecommendationRequest:
    """The serving request of a page slot's query; 400 when the placement needs a shopper id
    and the query has none."""
    if (
        query.user_id is None
        and query.anonymous_id is None
        and query.placement not in IDENTITY_OPTIONAL
    ):
        raise InvalidInput(
            "user_id or anonymous_id is required for this placement", code="missing_identity"
        )
    return RecommendationRequest(
        placement=query.placement,
        n=query.n,
        user_id=query.user_id,
        anonymous_id=query.anonymous_id,
        product_id=query.product_id,
        cart=tuple(query.cart or ()),
        category=query.category,
        query=query.query,
    )


def allowed(key: ApiKey, request: RecommendationRequest) -> RecommendationRequest:
    """``request`` if ``key`` may ask it: a write key (the browser's) only for its own
    anonymous id, never for a ``user_id`` (403)."""
    if request.user_id is not None and Scope.READ not in key.scopes:
        raise Forbidden("a write key may only ask for its own anonymous_id, not a user_id")
    return request


@functools.lru_cache(maxsize=20_000)
def page_request(query_string: bytes) -> RecommendationRequest:
    """:func:`serving_request` of a raw query string, remembered for the last 20,000 distinct
    ones: a shopper's pages ask for the same slots again (the premise of the answer cache), and
    checking a query with pydantic (~2 us in process) was a sixth of the handler's time on an
    answer-cache hit, more in the server, where it runs cold between requests. The result is
    immutable and depends on the text alone (not on the key, checked after); refusals are
    raised again each time, never remembered. About 0.5 kB an entry.
    """
    return serving_request(parse_query(query_string))


async def recommendations(request: Request) -> Response:
    """Products for a placement, ranked for this shopper, with reason codes.

    Query: ``placement`` (required), ``n`` (1..100, default 10), ``user_id`` or
    ``anonymous_id`` (a write key may only give an ``anonymous_id``; optional on product, category
    and search placements), ``product_id``, ``cart`` (repeated), ``category``, ``query``.
    """
    rt = runtime(request)
    asgi = request.scope
    req = page_request(asgi["query_string"])
    served = rt.recommendations.recommend(
        allowed(grant(rt, bearer_token(asgi), Scope.RECOMMEND_OWN), req)
    )
    return RenderedJson(served.json())


plain_routes = [Route("/v1/recommendations", recommendations, methods=["GET"])]
"""Starlette routes the app matches before its routers (see :func:`shopwise.api.create_app`)."""


def shopper_request(
    request: Request,
    placement: str = Query(..., pattern=PLACEMENT),
    n: int = Query(10, ge=1, le=100),
    user_id: str | None = Query(None, max_length=128),
    anonymous_id: str | None = Query(None, max_length=128),
    product_id: str | None = Query(None, max_length=128),
    cart: list[str] | None = Query(None),
    category: str | None = Query(None, max_length=200),
    query: str | None = Query(None, max_length=512),
) -> RecommendationRequest:
    """The query parameters of a page slot (as a documented dependency), checked for the key."""
    shopper = ShopperQuery(
        placement=placement,
        n=n,
        user_id=user_id,
        anonymous_id=anonymous_id,
        product_id=product_id,
        cart=cart,
        category=category,
        query=query,
    )
    key = grant(runtime(request), bearer_token(request.scope), Scope.RECOMMEND_OWN)
    return allowed(key, serving_request(shopper))


@router.get("/products/{product_id}/similar")
def similar(
    request: Request,
    product_id: str,
    _key: Annotated[ApiKey, Depends(authorize(Scope.RECOMMEND_OWN))],
    n: int = Query(10, ge=1, le=100),
) -> dict[str, Any]:
    """Products like this one (same category, viewed together)."""
    return runtime(request).recommendations.similar(product_id, n, complementary=False).public()


@router.get("/products/{product_id}/complementary")
def complementary(
    request: Request,
    product_id: str,
    _key: Annotated[ApiKey, Depends(authorize(Scope.RECOMMEND_OWN))],
    n: int = Query(10, ge=1, le=100),
) -> dict[str, Any]:
    """Products that go with this one (other categories, bought or viewed next)."""
    return runtime(request).recommendations.similar(product_id, n, complementary=True).public()


@router.get("/decide")
def decide(
    request: Request, req: Annotated[RecommendationRequest, Depends(shopper_request)]
) -> dict[str, Any]:
    """Everything for one page slot: products, banner, triggered message, section order."""
    rt = runtime(request)
    shopper = req.user_id or req.anonymous_id
    return rt.recommendations.decide(req, rt.scores(shopper), rt.segments(shopper))
