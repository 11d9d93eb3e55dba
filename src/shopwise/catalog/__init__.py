"""The product catalog: upserts, patches with change history, filtered reads, a hot snapshot."""

from shopwise.catalog._models import Product, ProductIn, ProductPatch, split_category
from shopwise.catalog._service import (
    MAX_UPSERT,
    Catalog,
    ProductPage,
    UpsertResult,
    validate_products,
)

__all__ = [
    "MAX_UPSERT",
    "Catalog",
    "Product",
    "ProductIn",
    "ProductPage",
    "ProductPatch",
    "UpsertResult",
    "split_category",
    "validate_products",
]
