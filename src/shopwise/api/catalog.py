"""The catalog API: bulk upsert, patch, paged filtered reads."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request

from shopwise.api._auth import authorize
from shopwise.api._runtime import runtime
from shopwise.api.events import read_body
from shopwise.auth import ApiKey, Scope
from shopwise.catalog import ProductPatch
from shopwise.errors import InvalidInput

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])

MAX_CATALOG_BYTES = 8 * 1024 * 1024


@router.put("/products")
async def put_products(
    request: Request, _key: Annotated[ApiKey, Depends(authorize(Scope.WRITE))]
) -> dict[str, int]:
    """Create or replace up to 1,000 products: ``{"products": [...]}`` (all valid, or none)."""
    body = await read_body(request, MAX_CATALOG_BYTES)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", code="malformed_json") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("products"), list):
        raise InvalidInput('products: body must be {"products": [...]}', code="invalid_body")
    result = runtime(request).catalog.upsert(payload["products"])
    return {"created": result.created, "updated": result.updated, "changes": result.changes}


@router.patch("/products/{product_id}")
def patch_product(
    request: Request,
    product_id: str,
    patch: ProductPatch,
    _key: Annotated[ApiKey, Depends(authorize(Scope.WRITE))],
) -> dict[str, Any]:
    """Change stock, price, availability (effective for serving at once; history kept)."""
    return runtime(request).catalog.patch(product_id, patch).model_dump(mode="json")


@router.get("/products/{product_id}")
def get_product(
    request: Request, product_id: str, _key: Annotated[ApiKey, Depends(authorize(Scope.READ))]
) -> dict[str, Any]:
    return runtime(request).catalog.get(product_id).model_dump(mode="json")


@router.get("/products")
def list_products(
    request: Request,
    _key: Annotated[ApiKey, Depends(authorize(Scope.READ))],
    cursor: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    category: str | None = None,
    brand: str | None = None,
    in_stock: bool | None = None,
    min_price: float | None = Query(None, ge=0),
    max_price: float | None = Query(None, ge=0),
) -> dict[str, Any]:
    """Products ordered by id, filtered; pass ``next_cursor`` back as ``cursor`` for more."""
    page = runtime(request).catalog.page(
        cursor, limit, category, brand, in_stock, min_price, max_price
    )
    return {
        "products": [p.model_dump(mode="json") for p in page.items],
        "next_cursor": page.next_cursor,
    }
