"""The JS SDK (``GET /sdk/shopwise.js``) and the product cards it renders (``GET /sdk/products``).

A shop's pages load the SDK from shopwise itself, so the file ships inside the package
(``api/assets``) and is served with a validator: the URL carries no version, so browsers keep it
for a short while and then revalidate it with its ``ETag`` (a 304 costs no body). Answers of
``/v1/decide`` and ``/v1/recommendations`` name products by id only; the SDK asks
``/sdk/products`` for what a page shows of them (title, price, image, link), which is public
catalog data, so a write key may read it (a write key cannot list the catalog).
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from shopwise.api._auth import authorize
from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.catalog import Product

router = APIRouter(prefix="/sdk", tags=["sdk"])

SCRIPT: Final = "shopwise.js"
MEDIA_TYPE: Final = "text/javascript; charset=utf-8"
CACHE_CONTROL: Final = "public, max-age=300, must-revalidate"
"""Short: the URL is the same for every version, so a deploy reaches pages within minutes."""
MAX_CARDS: Final = 100


@functools.cache
def script() -> tuple[bytes, str]:
    """The SDK's bytes and their strong ``ETag``, read once from the package."""
    body = resources.files("shopwise.api").joinpath("assets", SCRIPT).read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


@router.get("/shopwise.js", response_class=Response, openapi_extra={"security": []})
def get_script(request: Request) -> Response:
    """The JS SDK; ``304 Not Modified`` when ``If-None-Match`` names the current version."""
    body, etag = script()
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if etag in _tags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MEDIA_TYPE, headers=headers)


def _tags(header: str | None) -> set[str]:
    """The entity tags of an ``If-None-Match`` header (weak ones compare as strong: RFC 9110)."""
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def card(product: Product) -> dict[str, Any]:
    """What a page shows of a product: public catalog fields, the link from ``attributes.url``."""
    url = product.attributes.get("url")
    return {
        "product_id": product.id,
        "title": product.title,
        "category": product.category,
        "brand": product.brand,
        "price": product.price,
        "sale_price": product.sale_price,
        "currency": product.currency,
        "image_url": product.image_url,
        "url": url if isinstance(url, str) else None,
        "in_stock": product.in_stock,
    }


@router.get("/products")
def product_cards(
    request: Request,
    _key: Annotated[ApiKey, Depends(authorize(Scope.RECOMMEND_OWN))],
    ids: Annotated[list[Annotated[str, Query(max_length=128)]], Query(max_length=MAX_CARDS)],
) -> dict[str, list[dict[str, Any]]]:
    """Cards of the products ``ids`` (repeated parameter) in the order asked; ids the catalog
    does not hold are left out."""
    snapshot = runtime(request).catalog.snapshot()
    found = (snapshot.get(product_id) for product_id in dict.fromkeys(ids))
    return {"products": [card(product) for product in found if product is not None]}
