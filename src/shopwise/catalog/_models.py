"""Catalog rows as the API and importers send them, and as the store returns them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shopwise.schema import Currency, Id, Money

CATEGORY_SEPARATORS = (" > ", "/", ">")


def split_category(value: str) -> list[str]:
    """``"Home > Kitchen > Knives"`` or ``"Home/Kitchen/Knives"`` as a path list."""
    for separator in CATEGORY_SEPARATORS:
        if separator in value:
            return [part.strip() for part in value.split(separator) if part.strip()]
    return [value.strip()] if value.strip() else []


class ProductIn(BaseModel):
    """One product of a bulk upsert."""

    model_config = ConfigDict(extra="forbid")

    id: Id
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    description: Annotated[str, StringConstraints(max_length=20_000)] = ""
    category: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list
    )
    brand: Annotated[str, StringConstraints(max_length=200)] | None = None
    price: Money
    sale_price: Money | None = None
    currency: Currency = "EUR"
    stock: Annotated[int, Field(ge=0)] | None = None
    available: bool = True
    tags: list[Annotated[str, StringConstraints(max_length=100)]] = Field(default_factory=list)
    image_url: Annotated[str, StringConstraints(max_length=1000)] | None = None
    created_at: AwareDatetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("category", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        return split_category(value) if isinstance(value, str) else value


class ProductPatch(BaseModel):
    """Fields that change often; they take effect for serving at once."""

    model_config = ConfigDict(extra="forbid")

    price: Money | None = None
    sale_price: Money | None = None
    stock: Annotated[int, Field(ge=0)] | None = None
    available: bool | None = None
    tags: list[str] | None = None
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    description: str | None = None

    @field_validator("price", "available", "tags", "title", "description", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        """Every product has these: a patch leaves a field out to keep it, never nulls it
        (``sale_price`` and ``stock`` may be null: no sale, stock not tracked)."""
        if value is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value


class Product(BaseModel):
    """A product as stored."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    description: str
    category: list[str]
    brand: str | None
    price: float
    sale_price: float | None
    currency: str
    stock: int | None
    available: bool
    tags: list[str]
    image_url: str | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @property
    def in_stock(self) -> bool:
        return self.available and (self.stock is None or self.stock > 0)

    @property
    def effective_price(self) -> float:
        return self.sale_price if self.sale_price is not None else self.price


def ms_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)
