"""Rule-defined audiences: declarative conditions evaluated on customer feature frames.

An audience such as "carted in the last 3 days, no order since" is data, not code: a name and a
list of :class:`Condition` objects that must all hold (or any, with ``match="any"``). Conditions
compare a feature with a constant or with another feature, and say whether a missing value counts
as a match. Audiences round-trip through JSON, so the dashboard can store them and the worker can
re-evaluate them on every refresh to keep membership current.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

Op = Literal["<", "<=", ">", ">=", "==", "!="]
_OPS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class Condition(BaseModel):
    """``feature op value`` (or ``feature op other``) on each row of a feature frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feature: str = Field(min_length=1)
    """Left-hand feature column."""
    op: Op
    """Comparison."""
    value: float | str | None = None
    """Constant right-hand side."""
    other: str | None = None
    """Feature column as the right-hand side instead of a constant."""
    missing_matches: bool = False
    """Whether a missing value on either side satisfies the condition."""

    @model_validator(mode="after")
    def _one_side(self) -> Condition:
        if (self.value is None) == (self.other is None):
            raise ValueError("give exactly one of value and other")
        return self

    def evaluate(self, frame: pd.DataFrame) -> pd.Series:
        """Boolean mask of the rows of ``frame`` that satisfy the condition."""
        left = frame[self.feature]
        right: object = frame[self.other] if self.other is not None else self.value
        missing = left.isna()
        if isinstance(right, pd.Series):
            missing = missing | right.isna()
        compared: pd.Series = _OPS[self.op](left, right)
        result = compared.fillna(False).astype(bool) & ~missing
        return result | missing if self.missing_matches else result


class Audience(BaseModel):
    """A named set of customers defined by conditions on their features."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    """Audience name shown on profiles and in exports."""
    conditions: tuple[Condition, ...] = Field(min_length=1)
    """The rules."""
    match: Literal["all", "any"] = "all"
    """Whether every condition or at least one must hold."""
    description: str = ""
    """One line for people."""

    def evaluate(self, frame: pd.DataFrame) -> pd.Series:
        """Boolean membership of each row of ``frame``."""
        masks = [condition.evaluate(frame) for condition in self.conditions]
        combined = masks[0]
        for mask in masks[1:]:
            combined = combined & mask if self.match == "all" else combined | mask
        return combined.rename(self.name)

    def members(self, frame: pd.DataFrame) -> pd.Index:
        """Profile ids (the index of ``frame``) in the audience."""
        return frame.index[self.evaluate(frame).to_numpy()]


CART_ABANDONERS_3D: Final = Audience(
    name="carted_3d_no_order",
    description="added to cart in the last 3 days and has not ordered since",
    conditions=(
        Condition(feature="days_since_cart_add", op="<=", value=3),
        Condition(
            feature="recency_days", op=">", other="days_since_cart_add", missing_matches=True
        ),
    ),
)
"""Carted in the last 3 days, no order since (never ordered counts as no order)."""

LAPSED_VIPS: Final = Audience(
    name="lapsed_vips",
    description="top monetary quintile with no order for 90 days",
    conditions=(
        Condition(feature="m_score", op=">=", value=5),
        Condition(feature="recency_days", op=">", value=90),
    ),
)
"""High spenders who stopped buying."""


def memberships(frame: pd.DataFrame, audiences: tuple[Audience, ...]) -> pd.DataFrame:
    """One boolean column per audience, one row per profile of ``frame``."""
    return pd.concat([audience.evaluate(frame) for audience in audiences], axis=1)
