"""The catalog service: bulk upsert, patches that take effect at once, paged filtered reads.

Changes of price, sale price, stock and availability are recorded in ``catalog_changes`` so models
and rules see their history. An in-process snapshot of every product serves the hot paths
(affinities, serving filters); writes through this service refresh it immediately.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from pydantic import ValidationError

from shopwise.catalog._models import Product, ProductIn, ProductPatch, ms_to_datetime
from shopwise.errors import InvalidInput, NotFound
from shopwise.schema import Columns, utc_ms
from shopwise.store import catalog_changes, products, write_transaction

TRACKED: Final = ("price", "sale_price", "stock", "available")
_CHANGE_TOKEN: Final = sa.select(
    sa.func.count(),
    sa.func.max(products.c.updated_at),
    sa.func.sum(products.c.updated_at % 1_000_003),
)
"""Changes with any insert, delete or write of a product (every write stamps ``updated_at``),
except a second write of one product within the millisecond of the first, read in between."""
MAX_UPSERT: Final = 1000


@dataclass(frozen=True)
class UpsertResult:
    created: int
    updated: int
    changes: int


@dataclass(frozen=True)
class ProductPage:
    items: list[Product]
    next_cursor: str | None


def _now() -> int:
    return int(time.time() * 1000)


def _to_row(product: ProductIn, now: int) -> dict[str, Any]:
    return {
        Columns.ITEM: product.id,
        "title": product.title,
        "description": product.description,
        Columns.CATEGORY: product.category,
        Columns.BRAND: product.brand,
        Columns.PRICE: product.price,
        "sale_price": product.sale_price,
        Columns.CURRENCY: product.currency,
        "stock": product.stock,
        "available": product.available,
        "tags": product.tags,
        "image_url": product.image_url,
        "attributes": product.attributes,
        "created_at": utc_ms(product.created_at) if product.created_at else now,
        "updated_at": now,
    }


def _from_row(row: Mapping[str, Any]) -> Product:
    data = dict(row)
    data["id"] = data.pop(Columns.ITEM)
    data["created_at"] = ms_to_datetime(data["created_at"])
    data["updated_at"] = ms_to_datetime(data["updated_at"])
    return Product.model_validate(data)


def _changes(old: dict[str, Any], new: dict[str, Any], now: int) -> list[dict[str, Any]]:
    return [
        {
            Columns.ITEM: new[Columns.ITEM],
            "field": name,
            "old": old[name],
            "new": new[name],
            "changed_at": now,
        }
        for name in TRACKED
        if name in new and old.get(name) != new[name]
    ]


def validate_products(rows: Sequence[Any]) -> list[ProductIn]:
    """Every row validated, or one :class:`InvalidInput` listing each bad row and field."""
    if len(rows) > MAX_UPSERT:
        raise InvalidInput(f"products: {len(rows)} rows; limit {MAX_UPSERT} a request")
    valid, details = [], []
    for index, raw in enumerate(rows):
        try:
            valid.append(ProductIn.model_validate(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "product"
            details.append({"index": index, "field": field, "message": err["msg"]})
    if details:
        first = details[0]
        raise InvalidInput(
            f"products[{first['index']}].{first['field']}: {first['message']}",
            code="invalid_product",
            details=details,
        )
    return valid


class Catalog:
    """Products in the store plus an in-process snapshot for hot paths (see module docstring)."""

    def __init__(self, engine: sa.Engine, snapshot_seconds: float = 30.0) -> None:
        self._engine = engine
        self._snapshot_seconds = snapshot_seconds
        self._snapshot: dict[str, Product] = {}
        self._token: tuple[Any, ...] | None = None
        self._checked_at = -float("inf")
        self._lock = threading.Lock()

    def upsert(self, rows: Sequence[Any]) -> UpsertResult:
        """Create or replace products (all rows valid, or none written)."""
        items = validate_products(rows)
        now = _now()
        new_rows = {item.id: _to_row(item, now) for item in items}
        with write_transaction(self._engine) as conn:
            old_rows = self._rows(conn, list(new_rows))
            changes = [
                c
                for pid, row in new_rows.items()
                if pid in old_rows
                for c in _changes(old_rows[pid], row, now)
            ]
            for pid, row in new_rows.items():
                if pid in old_rows:
                    row["created_at"] = old_rows[pid]["created_at"]
                    conn.execute(products.update().where(products.c.product_id == pid).values(row))
            created = [row for pid, row in new_rows.items() if pid not in old_rows]
            if created:
                conn.execute(products.insert(), created)
            if changes:
                conn.execute(catalog_changes.insert(), changes)
        self._invalidate()
        return UpsertResult(len(created), len(new_rows) - len(created), len(changes))

    def patch(self, product_id: str, patch: ProductPatch) -> Product:
        values = patch.model_dump(exclude_unset=True)
        if not values:
            raise InvalidInput("patch: no field to change", code="empty_patch")
        now = _now()
        with write_transaction(self._engine) as conn:
            old = self._rows(conn, [product_id]).get(product_id)
            if old is None:
                raise NotFound(f"product {product_id!r} is not in the catalog")
            new = {**old, **values, "updated_at": now}
            conn.execute(products.update().where(products.c.product_id == product_id).values(new))
            changes = _changes(old, new, now)
            if changes:
                conn.execute(catalog_changes.insert(), changes)
        self._invalidate()
        return _from_row(new)

    def get(self, product_id: str) -> Product:
        with self._engine.connect() as conn:
            row = self._rows(conn, [product_id]).get(product_id)
        if row is None:
            raise NotFound(f"product {product_id!r} is not in the catalog")
        return _from_row(row)

    def page(
        self,
        cursor: str | None = None,
        limit: int = 100,
        category: str | None = None,
        brand: str | None = None,
        in_stock: bool | None = None,
        min_price: float | None = None,
        max_price: float | None = None,
    ) -> ProductPage:
        """Products ordered by id after ``cursor``, filtered; ``next_cursor`` continues."""
        items = [
            p
            for p in self.snapshot().values()
            if _matches(p, category, brand, in_stock, min_price, max_price)
        ]
        items.sort(key=lambda p: p.id)
        if cursor is not None:
            items = [p for p in items if p.id > cursor]
        page = items[:limit]
        more = len(items) > limit
        return ProductPage(page, page[-1].id if more and page else None)

    def snapshot(self) -> dict[str, Product]:
        """All products by id: reloaded at once after a write through this instance, and after
        a write elsewhere (another process) within ``snapshot_seconds``.

        Every ``snapshot_seconds`` one aggregate query (:data:`_CHANGE_TOKEN`) tells whether the
        table changed; only then are the products read again. An unchanged catalog keeps the
        same snapshot object, so what serving derived from it (rule facts, cached answers) stays
        valid instead of being rebuilt twice a minute.
        """
        with self._lock:
            if time.monotonic() - self._checked_at > self._snapshot_seconds:
                with self._engine.connect() as conn:
                    token = tuple(conn.execute(_CHANGE_TOKEN).one())
                    if token != self._token:
                        rows = conn.execute(sa.select(products)).mappings().all()
                        self._snapshot = {p.id: p for p in (_from_row(dict(r)) for r in rows)}
                        self._token = token
                self._checked_at = time.monotonic()
            return self._snapshot

    def item_info(self, product_id: str) -> tuple[str | None, str | None]:
        """Category path (joined with ' > ') and brand of a product, for affinities."""
        product = self.snapshot().get(product_id)
        if product is None:
            return None, None
        return (" > ".join(product.category) or None), product.brand

    def _invalidate(self) -> None:
        with self._lock:
            self._token = None
            self._checked_at = -float("inf")

    @staticmethod
    def _rows(conn: sa.Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
        query = sa.select(products).where(products.c.product_id.in_(ids))
        return {row[Columns.ITEM]: dict(row) for row in conn.execute(query).mappings()}


def _matches(
    product: Product,
    category: str | None,
    brand: str | None,
    in_stock: bool | None,
    min_price: float | None,
    max_price: float | None,
) -> bool:
    if category is not None and category not in product.category:
        return False
    if brand is not None and product.brand != brand:
        return False
    if in_stock is not None and product.in_stock != in_stock:
        return False
    price = product.effective_price
    if min_price is not None and price < min_price:
        return False
    return max_price is None or price <= max_price
