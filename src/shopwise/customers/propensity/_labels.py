"""Propensity labels declared as code: what happens in a window after the feature cutoff.

A label is a :class:`LabelSpec`: a name, the event it looks for, the length of the window after
``as_of`` and the population it is defined on. Features read only rows up to ``as_of``; labels read
only rows in ``(as_of, as_of + window]``, so a training row never sees its own answer. The three
built-in labels are :data:`PURCHASE_7D`, :data:`DISCOUNT_RESPONSE_30D` and :data:`CHURN_90D`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Final, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from shopwise.features import as_timestamp, check_orders, cut, window
from shopwise.schema import Columns


class LabelSpec(BaseModel):
    """A binary outcome observed in a window after the feature cutoff."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    """Name of the score the label trains (``purchase_7d``)."""
    outcome: Literal["purchase", "discounted_purchase", "no_purchase"]
    """What counts as positive: any order, an order with a discount, or no order at all."""
    window_days: float = Field(gt=0)
    """Length of the window after ``as_of``, in days."""
    population: Literal["all", "buyers"] = "all"
    """``buyers``: only profiles with an order up to ``as_of`` get a label (churn needs one)."""
    description: str = ""
    """One line for docs and the API."""


PURCHASE_7D: Final = LabelSpec(
    name="purchase_7d",
    outcome="purchase",
    window_days=7,
    description="places an order within the next 7 days",
)
DISCOUNT_RESPONSE_30D: Final = LabelSpec(
    name="discount_response_30d",
    outcome="discounted_purchase",
    window_days=30,
    description="places an order with a discount within the next 30 days",
)
CHURN_90D: Final = LabelSpec(
    name="churn_90d",
    outcome="no_purchase",
    window_days=90,
    population="buyers",
    description="a past buyer places no order within the next 90 days",
)
LABELS: Final = {spec.name: spec for spec in (PURCHASE_7D, DISCOUNT_RESPONSE_30D, CHURN_90D)}
"""The built-in labels by name."""


def make_labels(
    spec: LabelSpec,
    orders: pd.DataFrame,
    as_of: datetime | pd.Timestamp | str,
    profiles: Sequence[str],
) -> pd.Series:
    """The label of each profile for the window after ``as_of``.

    Parameters
    ----------
    spec
        Which label.
    orders
        Orders frame (rows after the window are ignored).
    as_of
        Feature cutoff; the window is ``(as_of, as_of + spec.window_days]``.
    profiles
        Candidate profiles; those outside the label's population are dropped.

    Returns
    -------
    pandas.Series
        Boolean labels indexed by profile id.
    """
    check_orders(orders)
    stamp = as_timestamp(as_of)
    end = stamp + pd.Timedelta(days=spec.window_days)
    if orders.empty or orders[Columns.TIME].max() < end:
        warnings.warn(
            f"orders end before the {spec.name} window closes ({end}); labels are censored",
            stacklevel=2,
        )
    index = pd.Index(list(profiles), dtype=object)
    if spec.population == "buyers":
        buyers = set(cut(orders, stamp)[Columns.PROFILE])
        index = index[index.isin(list(buyers))]
    later = window(orders, stamp, spec.window_days)
    if spec.outcome == "discounted_purchase":
        later = later.loc[later[Columns.DISCOUNT].fillna(0.0) > 0]
    hit = index.isin(list(set(later[Columns.PROFILE])))
    positive = ~hit if spec.outcome == "no_purchase" else hit
    return pd.Series(positive, index=index, name=spec.name, dtype=bool)
