"""Calibration/holdout summaries of order histories, the input of the probabilistic CLV models.

BG/NBD and Gamma-Gamma see a customer through four numbers measured in one time unit (days, or
weeks as in Fader and Hardie): ``frequency`` (repeat purchases, counted as distinct purchase days
after the first), ``recency`` (time from the first to the last purchase), ``T`` (time from the first
purchase to the end of calibration) and ``monetary`` (mean value of the repeat purchases). Only
orders up to the calibration end are read; the optional holdout columns count what happened after.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import pandas as pd

from shopwise.features import REFUNDED, as_timestamp, check_orders, cut, days
from shopwise.schema import Columns

FREQUENCY: Final = "frequency"
RECENCY: Final = "recency"
AGE: Final = "T"
MONETARY: Final = "monetary"
HOLDOUT_FREQUENCY: Final = "holdout_frequency"
HOLDOUT_MONETARY: Final = "holdout_monetary"


def _daily(orders: pd.DataFrame) -> pd.DataFrame:
    day = orders[Columns.TIME].dt.floor("D")
    grouped = orders.assign(day=day).groupby([Columns.PROFILE, "day"])[Columns.REVENUE]
    return grouped.sum().reset_index()


def rfm_summary(
    orders: pd.DataFrame,
    calibration_end: datetime | pd.Timestamp | str,
    *,
    holdout_end: datetime | pd.Timestamp | str | None = None,
    unit_days: float = 1.0,
    drop_refunded: bool = False,
) -> pd.DataFrame:
    """Frequency, recency, age and monetary value per customer at ``calibration_end``.

    Parameters
    ----------
    orders
        Orders frame.
    calibration_end
        End of the calibration period (inclusive); later orders are not read for the summary.
    holdout_end
        When given, add ``holdout_frequency`` (purchase days in ``(calibration_end,
        holdout_end]``) and ``holdout_monetary`` (their total revenue).
    unit_days
        Length of the time unit in days (7 for weeks).
    drop_refunded
        Leave out orders refunded by ``calibration_end``.

    Returns
    -------
    pandas.DataFrame
        Indexed by profile id: ``frequency``, ``recency``, ``T``, ``monetary`` (0 without repeat
        purchases) and the optional holdout columns.
    """
    check_orders(orders)
    end = as_timestamp(calibration_end)
    known = cut(orders, end)
    if drop_refunded:
        known = known.loc[~known[REFUNDED]]
    daily = _daily(known).sort_values([Columns.PROFILE, "day"])
    by = daily.groupby(Columns.PROFILE)
    first = by["day"].min()
    summary = pd.DataFrame(
        {
            FREQUENCY: (by.size() - 1).astype(float),
            RECENCY: days(by["day"].max() - first) / unit_days,
            AGE: days(end.floor("D") - first) / unit_days,
        }
    )
    repeat = daily.loc[daily.groupby(Columns.PROFILE).cumcount() > 0]
    summary[MONETARY] = repeat.groupby(Columns.PROFILE)[Columns.REVENUE].mean()
    summary[MONETARY] = summary[MONETARY].fillna(0.0)
    if holdout_end is not None:
        later = orders.loc[
            (orders[Columns.TIME] > end) & (orders[Columns.TIME] <= as_timestamp(holdout_end))
        ]
        later_daily = _daily(later).groupby(Columns.PROFILE)
        summary[HOLDOUT_FREQUENCY] = later_daily.size().reindex(summary.index).fillna(0.0)
        summary[HOLDOUT_MONETARY] = (
            later_daily[Columns.REVENUE].sum().reindex(summary.index).fillna(0.0)
        )
    summary.index.name = Columns.PROFILE
    return summary
