"""The customer feature frame: one row per profile, every feature as of one cutoff.

:func:`customer_features` is what training (labels are joined to it) and serving (the current
scores of a profile) both call, so the two can never drift apart. It joins the order features, the
session features, the affinity summaries, price sensitivity and email engagement computed at the
same ``as_of``. The population is every profile with an event or an order known at ``as_of``, or
the ``profiles`` the caller names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from shopwise.features._behaviour import (
    affinities,
    affinity_summary,
    email_features,
    price_features,
    session_features,
)
from shopwise.features._frames import as_timestamp, cut
from shopwise.features._orders import order_features
from shopwise.schema import Columns


class FeatureConfig(BaseModel):
    """Settings of the customer feature frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recent_days: float = Field(default=7.0, gt=0)
    """Width of the window behind the ``recent_*`` session counts."""
    affinity_half_life_days: float = Field(default=30.0, gt=0)
    """Half-life of the time decay of category and brand affinities."""


def customer_features(
    events: pd.DataFrame,
    orders: pd.DataFrame,
    as_of: datetime | pd.Timestamp | str,
    *,
    config: FeatureConfig | None = None,
    profiles: Sequence[str] | None = None,
) -> pd.DataFrame:
    """All customer features at ``as_of``, one row per profile.

    Parameters
    ----------
    events
        Events frame (may be empty but must have the declared columns).
    orders
        Orders frame.
    as_of
        Cutoff: no row with a later time, and no refund dated later, is read.
    config
        Feature settings; defaults to :class:`FeatureConfig`.
    profiles
        The rows to return; defaults to every profile known at ``as_of``.

    Returns
    -------
    pandas.DataFrame
        Numeric features indexed by profile id (missing where a feature does not apply).
    """
    cfg = config or FeatureConfig()
    stamp = as_timestamp(as_of)
    known_events = cut(events, stamp)
    known_orders = cut(orders, stamp)
    parts = [
        order_features(known_orders, stamp),
        session_features(known_events, stamp, recent_days=cfg.recent_days),
        price_features(known_events, stamp),
        email_features(known_events, stamp),
    ]
    for column, prefix in ((Columns.CATEGORY, "category"), (Columns.BRAND, "brand")):
        long = affinities(
            known_events, stamp, column=column, half_life_days=cfg.affinity_half_life_days
        )
        parts.append(affinity_summary(long, prefix))
    if profiles is None:
        index = pd.Index(
            sorted(set(known_events[Columns.PROFILE]) | set(known_orders[Columns.PROFILE])),
            dtype=object,
        )
    else:
        index = pd.Index(list(profiles), dtype=object)
    frame = pd.concat([part.reindex(index) for part in parts], axis=1)
    counts = [
        "frequency",
        "monetary",
        "sessions",
        "events",
        "views",
        "searches",
        "cart_adds",
        "checkouts",
        "page_views",
        "emails_sent",
    ]
    counts += [name for name in frame.columns if name.startswith("recent_")]
    frame[counts] = frame[counts].fillna(0.0)
    frame.index.name = Columns.PROFILE
    return frame
