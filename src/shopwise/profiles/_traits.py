"""Declared profile traits: their types and which ones are personal data (PII).

PII traits are flagged so the privacy stage can encrypt them at rest and export or erase them.
Traits not declared here are accepted as ``custom`` scalars.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from shopwise.errors import InvalidInput


@dataclass(frozen=True)
class TraitSpec:
    type: type
    pii: bool


TRAITS: Final[dict[str, TraitSpec]] = {
    "email": TraitSpec(str, pii=True),
    "phone": TraitSpec(str, pii=True),
    "name": TraitSpec(str, pii=True),
    "first_name": TraitSpec(str, pii=True),
    "last_name": TraitSpec(str, pii=True),
    "address": TraitSpec(dict, pii=True),
    "birthday": TraitSpec(date, pii=True),
    "gender": TraitSpec(str, pii=False),
    "city": TraitSpec(str, pii=False),
    "country": TraitSpec(str, pii=False),
    "locale": TraitSpec(str, pii=False),
    "plan": TraitSpec(str, pii=False),
    "loyalty_tier": TraitSpec(str, pii=False),
    "created_at": TraitSpec(str, pii=False),
    "newsletter": TraitSpec(bool, pii=False),
}

_SCALARS = (str, int, float, bool, type(None))


def check_trait(name: str, value: Any) -> Any:
    """``value`` checked against the declared type of trait ``name`` (JSON form)."""
    spec = TRAITS.get(name)
    if spec is None:
        if not isinstance(value, _SCALARS):
            raise InvalidInput(
                f"traits.{name}: custom traits must be scalars", code="invalid_trait"
            )
        return value
    if value is None:
        return None
    if spec.type is date:
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise InvalidInput(
                f"traits.{name}: expected a date (YYYY-MM-DD)", code="invalid_trait"
            ) from None
    if spec.type is str and isinstance(value, str) and len(value) <= 512:
        return value
    if spec.type in (bool, dict) and isinstance(value, spec.type):
        return value
    raise InvalidInput(f"traits.{name}: expected {spec.type.__name__}", code="invalid_trait")


def is_pii(name: str) -> bool:
    spec = TRAITS.get(name)
    return spec is not None and spec.pii
