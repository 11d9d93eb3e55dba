"""Recommendations, similar and complementary products, and page decisions.

``GET /v1/recommendations`` is the hottest read of the API (every page asks it), so, like the
ingestion route, it is a plain Starlette route on the event loop, with no dependency resolution, no
thread-pool hop and no response-model serialisation: the body is the answer's JSON, rendered once
per cached answer, with the response's recommendation id spliced in (``Served.json``). Serving
itself never waits on I/O once the shopper's profile is cached (see ``Profiles.current``). Every
route that takes a shopper checks its query with one model, :class:`ShopperQuery`
(``/v1/decide`` through FastAPI, which lists it in the OpenAPI schema; the plain route through
:func:`parse_query`). Errors keep the app's format: 400 ``invalid_request`` with the offending
field named (a bad query is refused before the key is checked), 401/403/429 from the key, and
404 ``unknown_product`` on the similar and complementary routes for a product the catalog does
not hold (the page-slot routes ignore such a ``product_id`` as context and flag it in
``degraded``; see :mod:`shopwise.serving`).

A write key lives in every shopper's browser, so its answers are a browser's (see
:func:`allowed`): a ``user_id`` only with that user's valid ``user_hash``, personalization only
from what the browser owns or was verified to, and coarse public reason codes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response
from starlette.routing import Route

from shopwise.api._auth import authorize, bearer_token, grant
from shopwise.api._json import JsonResponse
from shopwise.api._metrics import metrics_of
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.decide import Landing, device_of
from shopwise.errors import Forbidden, InvalidInput
from shopwise.runtime import Runtime
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
    user_hash: Annotated[str | None, Field(max_length=128)] = None
    """Proves ``user_id`` to a write key (see README, Identity verification)."""
    anonymous_id: Id = None
    product_id: Id = None
    cart: list[str] | None = None
    category: Annotated[str | None, Field(max_length=200)] = None
    query: Annotated[str | None, Field(max_length=512)] = None
    utm_source: Annotated[str | None, Field(max_length=200)] = None
    """The landing URL's ``utm_source`` (``/v1/decide`` targets content with it)."""
    utm_medium: Annotated[str | None, Field(max_length=200)] = None
    utm_campaign: Annotated[str | None, Field(max_length=200)] = None
    referrer: Annotated[str | None, Field(max_length=2048)] = None
    """The referring page (URL or host); only its host is kept."""
    device: Literal["desktop", "mobile", "tablet"] | None = None
    """The device class; from the ``User-Agent`` header when not given."""

    def landing(self, user_agent: str | None) -> Landing:
        """Where the visit came from, as content targeting reads it."""
        device = self.device or device_of(user_agent)
        return Landing.of(
            self.utm_source, self.utm_medium, self.utm_campaign, self.referrer, device
        )


def parse_query(query_string: bytes) -> ShopperQuery:
    """A raw query string as a :class:`ShopperQuery`; 400 naming the field otherwise.

    A repeated parameter keeps its last value, except ``cart``, which keeps them all.
    """
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
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


def allowed(
    rt: Runtime, key: ApiKey, request: RecommendationRequest, user_hash: str | None
) -> RecommendationRequest:
    """``request`` as ``key`` may ask it. A secret key asks anything. A write key (the
    browser's) asks as a browser (``browser=True``), for a ``user_id`` only with its valid
    ``user_hash`` (403 otherwise): without it, no data of that user's profile is its to see."""
    if Scope.READ in key.scopes:
        return request
    if request.user_id is not None and not rt.collector.identity.verifies(
        request.user_id, user_hash
    ):
        raise Forbidden(
            "user_id: a write key may ask for a user_id only with its valid user_hash "
            "(else for its own anonymous_id)"
        )
    return request._replace(browser=True)


async def recommendations(request: Request) -> Response:
    """Products for a placement, ranked for this shopper, with reason codes.

    Query: ``placement`` (required), ``n`` (1..100, default 10), ``user_id`` or
    ``anonymous_id`` (a write key may give a ``user_id`` only with its ``user_hash``; optional on
    product, category and search placements), ``product_id``, ``cart`` (repeated),
    ``category``, ``query``.
    """
    rt = runtime(request)
    query = parse_query(request.scope["query_string"])
    req, user_hash = serving_request(query), query.user_hash
    key = grant(rt, bearer_token(request), Scope.RECOMMEND_OWN, request)
    served = rt.recommendations.recommend(allowed(rt, key, req, user_hash))
    metrics_of(request).answered(served.answer.fields)
    return Response(served.json(), media_type=JsonResponse.media_type)


plain_routes = [Route("/v1/recommendations", recommendations, methods=["GET"])]
"""Starlette routes the app matches before its routers (see :func:`shopwise.api.create_app`)."""


def shopper_request(request: Request, query: ShopperQuery) -> RecommendationRequest:
    """The serving request of a page slot's query, checked for the request's key."""
    rt = runtime(request)
    key = grant(rt, bearer_token(request), Scope.RECOMMEND_OWN, request)
    return allowed(rt, key, serving_request(query), query.user_hash)


@router.get("/products/{product_id}/similar")
def similar(
    request: Request,
    product_id: str,
    key: Annotated[ApiKey, Depends(authorize(Scope.RECOMMEND_OWN))],
    n: int = Query(10, ge=1, le=100),
) -> dict[str, Any]:
    """Products like this one (same category, viewed together), ``n`` of them while the catalog
    has them (completed from the product's category tree); no shopper's data shapes it. 404
    ``unknown_product`` for a product not in the catalog."""
    browser = Scope.READ not in key.scopes
    served = runtime(request).recommendations.similar(product_id, n, False, browser)
    metrics_of(request).answered(served.answer.fields)
    return served.public()


@router.get("/products/{product_id}/complementary")
def complementary(
    request: Request,
    product_id: str,
    key: Annotated[ApiKey, Depends(authorize(Scope.RECOMMEND_OWN))],
    n: int = Query(10, ge=1, le=100),
) -> dict[str, Any]:
    """Products that go with this one (other categories, bought or viewed next), completed like
    the similar list; no shopper's data shapes it. 404 ``unknown_product`` for a product not in
    the catalog."""
    browser = Scope.READ not in key.scopes
    served = runtime(request).recommendations.similar(product_id, n, True, browser)
    metrics_of(request).answered(served.answer.fields)
    return served.public()


@router.get("/decide")
def decide(request: Request, query: Annotated[ShopperQuery, Query()]) -> dict[str, Any]:
    """Everything for one page slot: products, banner, triggered message, section order.
    Content blocks and sections may target the landing: ``utm_source``, ``utm_medium``,
    ``utm_campaign``, ``referrer`` and ``device`` (else read from the ``User-Agent``)."""
    rt = runtime(request)
    req = shopper_request(request, query)
    shopper = req.user_id or req.anonymous_id
    landing = query.landing(request.headers.get("user-agent"))
    decision = rt.recommendations.decide(req, rt.scores(shopper), rt.segments(shopper), landing)
    metrics_of(request).answered(decision)
    return decision
