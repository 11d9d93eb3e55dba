"""The CDNOW 1/10 sample of Fader and Hardie, rebuilt from the master file.

The published CDNOW results use a 2,357-customer sample summarised over a 39-week calibration
period (1997-01-01 to 1997-09-30) with a 39-week holdout. The sample's summary ships without the
master customer ids, yet Gamma-Gamma needs each repeat buyer's spend and the holdout error needs
each customer's later purchases. The sample is ordered by first purchase day, then by master id,
so within each first-purchase cohort (equal ``T``) the sample rows are matched to an increasing run
of master customers with the same ``(frequency, recency, T)``: keys that are unique anchor the
alignment, and dynamic programming places the ambiguous rows closest to the positions interpolated
between anchors. Customers with identical summaries cannot be told apart, so the few repeat buyers
who share their summary with another get the spend of their twin; the published Gamma-Gamma
estimates are still recovered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from shopwise.customers.clv._summary import AGE, FREQUENCY, RECENCY, rfm_summary
from shopwise.features import DatasetMissingError, load_cdnow_orders

CALIBRATION_END: Final = pd.Timestamp("1997-09-30", tz="UTC")
HOLDOUT_END: Final = pd.Timestamp("1998-06-30", tz="UTC")
MASTER_ID: Final = "master_id"


def _keys(frame: pd.DataFrame) -> pd.Series:
    return (
        frame[FREQUENCY].astype(int).astype(str)
        + "|"
        + frame[RECENCY].round(2).map("{:.2f}".format)
        + "|"
        + frame[AGE].round(2).map("{:.2f}".format)
    )


def _align(sample_keys: pd.Series, cohort_keys: pd.Series) -> pd.Series:
    """Match one first-purchase-day cohort: sample rows in id order to increasing master ids.

    Among all increasing matchings of equal keys, dynamic programming picks the one closest to
    the positions interpolated between the rows whose key is unique (the anchors).
    """
    master_keys = cohort_keys.to_numpy()
    size = master_keys.size
    counts = cohort_keys.value_counts()
    unique = (sample_keys.map(counts).eq(1) & ~sample_keys.duplicated(keep=False)).to_numpy()
    position = np.arange(len(sample_keys), dtype=float)
    where = {key: i for i, key in enumerate(master_keys)}
    anchor_ranks = [where[key] for key in sample_keys.to_numpy()[unique]]
    if len(anchor_ranks) >= 2:
        expected = np.interp(position, position[unique], anchor_ranks)
    else:
        expected = position * (size - 1) / max(len(sample_keys) - 1, 1)
    ranks = np.arange(size)
    cost = np.full(size, np.inf)
    back = np.zeros((len(sample_keys), size), dtype=np.int64)
    for i, key in enumerate(sample_keys.to_numpy()):
        here = np.where(master_keys == key, np.abs(ranks - expected[i]), np.inf)
        if i == 0:
            cost = here
            continue
        best = np.minimum.accumulate(cost)
        best_at = np.maximum.accumulate(np.where(cost == best, ranks, 0))
        cost = np.full(size, np.inf)
        cost[1:] = here[1:] + best[:-1]
        back[i, 1:] = best_at[:-1]
    if not np.isfinite(cost.min()):
        raise ValueError(f"CDNOW sample rows {list(sample_keys.index[:3])}... have no match")
    chosen = np.zeros(len(sample_keys), dtype=np.int64)
    chosen[-1] = int(np.argmin(cost))
    for i in range(len(sample_keys) - 1, 0, -1):
        chosen[i - 1] = back[i, chosen[i]]
    return pd.Series(cohort_keys.index.to_numpy()[chosen], index=sample_keys.index)


def cdnow_sample(root: Path) -> pd.DataFrame:
    """The 2,357-customer CDNOW sample with master-file calibration and holdout summaries.

    Parameters
    ----------
    root
        Datasets folder with ``cdnow/CDNOW_master.txt`` and ``cdnow/cdnow_customers_summary.csv``.

    Returns
    -------
    pandas.DataFrame
        Indexed by sample ``ID``: ``master_id``, ``frequency``, ``recency``, ``T`` (weeks, from the
        published summary), ``monetary`` (mean repeat purchase value in calibration),
        ``holdout_frequency`` and ``holdout_monetary`` (weeks 40-78).
    """
    path = root / "cdnow" / "cdnow_customers_summary.csv"
    if not path.is_file():
        raise DatasetMissingError(f"dataset file not found: {path}")
    sample = pd.read_csv(path).set_index("ID")
    master = rfm_summary(
        load_cdnow_orders(root), CALIBRATION_END, holdout_end=HOLDOUT_END, unit_days=7.0
    )
    master.index = master.index.astype(int)
    master = master.sort_index()
    master_keys = _keys(master)
    master_age = master[AGE].round(2)
    matched = pd.concat(
        [
            _align(_keys(group), master_keys[master_age == age])
            for age, group in sample.groupby(sample[AGE].round(2), sort=False)
        ]
    ).reindex(sample.index)
    ids = matched.astype(int)
    joined = master.loc[ids.to_numpy()].drop(columns=[FREQUENCY, RECENCY, AGE])
    joined.index = sample.index
    out = sample.join(joined)
    out.insert(0, MASTER_ID, ids)
    return out
