"""Order-history features: RFM with quintile scores, inter-purchase time, AOV, discounts, refunds.

These are the classic direct-marketing descriptors of a customer, computed from the orders frame as
it was known at ``as_of`` (see :func:`shopwise.features.cut`). Recency and tenure are in days; the
quintile scores run from 1 (worst) to 5 (best), so a recent, frequent, big-spending customer scores
5-5-5. Customers without an order get missing values, which LightGBM and the segment rules treat
explicitly rather than as zeros.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from shopwise.features._frames import REFUNDED, as_timestamp, check_orders, cut, days
from shopwise.schema import Columns


def quintile_score(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    """Scores 1..5 from the percentile rank of ``values`` (ties share the lowest score).

    Parameters
    ----------
    values
        One number per customer; missing values get a missing score.
    higher_is_better
        ``False`` for recency in days, where a small value is good.

    Returns
    -------
    pandas.Series
        Scores 1.0 to 5.0 aligned with ``values`` (NaN where the value is missing).
    """
    # "min" puts a tie at the low end in the lowest score (many one-order customers score F=1).
    ranks = values.rank(method="min", pct=True, ascending=higher_is_better)
    return pd.Series(np.ceil(ranks * 5), index=values.index, dtype=float).clip(1, 5)


def order_features(orders: pd.DataFrame, as_of: datetime | pd.Timestamp | str) -> pd.DataFrame:
    """Per-profile order features from the orders known at ``as_of``.

    Parameters
    ----------
    orders
        Orders frame (see :data:`shopwise.features.ORDER_COLUMNS`).
    as_of
        Cutoff; orders and refunds after it are ignored.

    Returns
    -------
    pandas.DataFrame
        Indexed by profile id with columns ``recency_days``, ``frequency``, ``monetary``, ``aov``,
        ``tenure_days``, ``ipt_mean_days``, ``ipt_std_days``, ``discount_share``,
        ``discount_rate``, ``refund_rate`` and the scores ``r_score``, ``f_score``, ``m_score``,
        ``rfm_score`` (their sum).
    """
    check_orders(orders)
    stamp = as_timestamp(as_of)
    known = cut(orders, stamp).sort_values([Columns.PROFILE, Columns.TIME])
    by = known.groupby(Columns.PROFILE, sort=True)
    first = by[Columns.TIME].min()
    last = by[Columns.TIME].max()
    frame = pd.DataFrame(
        {
            "recency_days": days(stamp - last),
            "frequency": by.size().astype(float),
            "monetary": by[Columns.REVENUE].sum(),
            "aov": by[Columns.REVENUE].mean(),
            "tenure_days": days(stamp - first),
        }
    )
    gaps = days(known.groupby(Columns.PROFILE)[Columns.TIME].diff())
    gap_by = gaps.groupby(known[Columns.PROFILE])
    frame["ipt_mean_days"] = gap_by.mean()
    frame["ipt_std_days"] = gap_by.std()
    discounted = (known[Columns.DISCOUNT].fillna(0.0) > 0).astype(float)
    frame["discount_share"] = discounted.groupby(known[Columns.PROFILE]).mean()
    gross = by[Columns.REVENUE].sum() + by[Columns.DISCOUNT].sum()
    frame["discount_rate"] = (by[Columns.DISCOUNT].sum() / gross.where(gross > 0)).fillna(0.0)
    frame["refund_rate"] = known[REFUNDED].astype(float).groupby(known[Columns.PROFILE]).mean()
    frame["r_score"] = quintile_score(frame["recency_days"], higher_is_better=False)
    frame["f_score"] = quintile_score(frame["frequency"])
    frame["m_score"] = quintile_score(frame["monetary"])
    frame["rfm_score"] = frame["r_score"] + frame["f_score"] + frame["m_score"]
    frame.index.name = Columns.PROFILE
    return frame
