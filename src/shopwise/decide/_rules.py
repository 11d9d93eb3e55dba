"""Business rules declared in YAML: what they look like and which products they match.

A rule set is a list of named rules. Every rule may be limited to placements and to a time
window (sale periods, campaigns); ``priority`` orders rules of the same type (higher first).
Types:

- ``filter``: drop products matching ``exclude`` (or bought within ``purchased_within_days``);
- ``boost`` / ``bury``: multiply the score of matching products by ``factor`` (> 1 / < 1);
- ``pin``: put ``product_id`` at ``slot`` while the rule is active;
- ``diversify``: at most ``max_per_category`` items a category, or MMR with ``mmr_lambda``;
- ``fallback``: when the model is missing or the list has fewer than ``min_items`` items (by
  default the ``n`` asked for) or a top score under ``min_score``, fill it up to ``n`` from
  ``source`` (popular overall, in the context category, or trending), each item labelled for
  what it is (``popular``, ``popular_in_category:<name>``, ``trending``). Under a
  ``max_per_category`` cap the fill takes other categories first; only when they run out do the
  items the cap kept out complete the list (the model's first). Item-to-item lists (similar,
  complementary) do not use it: they are always completed by the query product's category
  walk (see :mod:`shopwise.decide._engine`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from shopwise.catalog import Product
from shopwise.errors import InvalidInput

Placement = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")]
BUILTIN_PLACEMENTS = (
    "home",
    "product",
    "cart",
    "checkout",
    "search",
    "category",
    "email",
    "post_purchase",
)


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Config):
    """Conditions on a product; all given conditions must hold (empty matches everything)."""

    product_ids: list[str] | None = None
    category: list[str] | None = None
    """Any of these names appears in the product's category path."""
    brand: list[str] | None = None
    tags: list[str] | None = None
    """The product has any of these tags."""
    price_min: float | None = None
    price_max: float | None = None
    on_sale: bool | None = None
    new_within_days: int | None = Field(default=None, ge=1)
    stock_below: int | None = Field(default=None, ge=1)
    out_of_stock: bool | None = None
    attributes: dict[str, Any] | None = None
    """Equality on free attributes, e.g. ``{age_gated: true}`` or ``{margin_band: high}``."""

    def matches(self, product: Product, now: datetime) -> bool:
        """All given conditions hold for ``product`` (stops at the first that fails)."""
        return all(check(product, now) for check in self._checks)

    @functools.cached_property
    def _checks(self) -> list[Callable[[Product, datetime], bool]]:
        """One predicate per condition that is set, built once per rule set version."""
        checks: list[Callable[[Product, datetime], bool]] = []
        if self.product_ids is not None:
            ids = frozenset(self.product_ids)
            checks.append(lambda p, _now: p.id in ids)
        if self.category is not None:
            names = frozenset(self.category)
            checks.append(lambda p, _now: not names.isdisjoint(p.category))
        if self.brand is not None:
            brands = frozenset(self.brand)
            checks.append(lambda p, _now: p.brand in brands)
        if self.tags is not None:
            tags = frozenset(self.tags)
            checks.append(lambda p, _now: not tags.isdisjoint(p.tags))
        if self.price_min is not None:
            low = self.price_min
            checks.append(lambda p, _now: p.effective_price >= low)
        if self.price_max is not None:
            high = self.price_max
            checks.append(lambda p, _now: p.effective_price <= high)
        if self.on_sale is not None:
            sale = self.on_sale
            checks.append(lambda p, _now: (p.sale_price is not None) == sale)
        if self.new_within_days is not None:
            age = timedelta(days=self.new_within_days)
            checks.append(lambda p, now: now - p.created_at <= age)
        if self.stock_below is not None:
            limit = self.stock_below
            checks.append(lambda p, _now: p.stock is not None and p.stock < limit)
        if self.out_of_stock is not None:
            gone = self.out_of_stock
            checks.append(lambda p, _now: (not p.in_stock) == gone)
        if self.attributes is not None:
            wanted = dict(self.attributes)
            checks.append(lambda p, _now: all(p.attributes.get(k) == v for k, v in wanted.items()))
        return checks


class _Rule(_Config):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    placements: list[Placement] | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    priority: int = 0

    @model_validator(mode="after")
    def _window(self) -> _Rule:
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def active(self, placement: str, now: datetime) -> bool:
        if self.placements is not None and placement not in self.placements:
            return False
        if self.start is not None and now < self.start:
            return False
        return self.end is None or now < self.end


class FilterRule(_Rule):
    type: Literal["filter"]
    exclude: Match | None = None
    purchased_within_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _something(self) -> FilterRule:
        if self.exclude is None and self.purchased_within_days is None:
            raise ValueError("a filter needs 'exclude' or 'purchased_within_days'")
        return self


class BoostRule(_Rule):
    type: Literal["boost", "bury"]
    match: Match
    factor: float = Field(gt=0)

    @model_validator(mode="after")
    def _direction(self) -> BoostRule:
        if (self.type == "boost") != (self.factor > 1):
            raise ValueError("boost needs factor > 1, bury needs factor < 1")
        return self


class PinRule(_Rule):
    type: Literal["pin"]
    product_id: str
    slot: int = Field(ge=0, le=99)


class DiversifyRule(_Rule):
    type: Literal["diversify"]
    max_per_category: int | None = Field(default=None, ge=1)
    mmr_lambda: float | None = Field(default=None, ge=0, le=1)
    """Relevance weight of MMR; 1 - lambda weighs dissimilarity (shared category levels)."""

    @model_validator(mode="after")
    def _one(self) -> DiversifyRule:
        if (self.max_per_category is None) == (self.mmr_lambda is None):
            raise ValueError("give exactly one of max_per_category or mmr_lambda")
        return self


class FallbackRule(_Rule):
    type: Literal["fallback"]
    source: Literal["popular", "popular_in_category", "trending"] = "popular_in_category"
    min_items: int | None = Field(default=None, ge=0)
    """Fill a list shorter than this; ``None``: shorter than the ``n`` asked for."""
    min_score: float | None = None


Rule = Annotated[
    FilterRule | BoostRule | PinRule | DiversifyRule | FallbackRule, Field(discriminator="type")
]


class RuleSet(_Config):
    """A versioned set of rules (names unique)."""

    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        names = [r.name for r in self.rules]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"rule names must be unique: {', '.join(duplicated)}")
        return self

    def active(self, placement: str, now: datetime) -> list[Rule]:
        ordered = sorted(self.rules, key=lambda r: -r.priority)
        return [rule for rule in ordered if rule.active(placement, now)]

    def ages(self) -> frozenset[timedelta]:
        """The product ages that conditions of these rules compare with (``new_within_days``)."""
        matches = [m for r in self.rules for m in _matches(r)]
        return frozenset(
            timedelta(days=m.new_within_days) for m in matches if m.new_within_days is not None
        )


def _matches(rule: Rule) -> list[Match]:
    if isinstance(rule, FilterRule):
        return [rule.exclude] if rule.exclude is not None else []
    if isinstance(rule, BoostRule):
        return [rule.match]
    return []


def parse_yaml(text: str, model: type[BaseModel]) -> Any:
    """``text`` parsed into ``model``; :class:`InvalidInput` naming the field otherwise."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"YAML does not parse: {exc}", code="invalid_yaml") from None
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        first = details[0]
        raise InvalidInput(
            f"{first['field']}: {first['message']}", code="invalid_rules", details=details
        ) from None
