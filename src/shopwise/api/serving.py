"""Recommendations, similar and complementary products, and page decisions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from shopwise.api._auth import authorize, runtime
from shopwise.auth import ApiKey, Scope
from shopwise.errors import Forbidden, InvalidInput
from shopwise.serving import RecommendationRequest

router = APIRouter(prefix="/v1", tags=["serving"])

PLACEMENT = r"^[a-z0-9_\-]{1,64}$"
IDENTITY_OPTIONAL = ("product", "category", "search")
"""Placements that may be served without a shopper id (product and listing pages)."""


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
    """The query parameters of a page slot, checked against what the key may ask for."""
    key = authorize(Scope.RECOMMEND_OWN)(request)
    if Scope.READ not in key.scopes and user_id is not None:
        raise Forbidden("a write key may only ask for its own anonymous_id, not a user_id")
    if user_id is None and anonymous_id is None and placement not in IDENTITY_OPTIONAL:
        raise InvalidInput(
            "user_id or anonymous_id is required for this placement", code="missing_identity"
        )
    return RecommendationRequest(
        placement=placement,
        n=n,
        user_id=user_id,
        anonymous_id=anonymous_id,
        product_id=product_id,
        cart=tuple(cart or ()),
        category=category,
        query=query,
    )


@router.get("/recommendations")
def recommendations(
    request: Request, req: Annotated[RecommendationRequest, Depends(shopper_request)]
) -> dict[str, Any]:
    """Products for a placement, ranked for this shopper, with reason codes."""
    return runtime(request).recommendations.recommend(req).public()


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
