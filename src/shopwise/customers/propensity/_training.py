"""Training frames for propensity models: features at several cutoffs joined to their labels.

One training row is a profile at one cutoff: its features as of the cutoff and its label from the
window after it. Stacking several cutoffs (a rolling origin) gives more rows and teaches the model
about seasonality without ever mixing the future into a feature. Serving calls the same
:func:`shopwise.features.customer_features` at "now" and feeds the model the same columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import pandas as pd

from shopwise.customers.propensity._labels import LabelSpec, make_labels
from shopwise.features import FeatureConfig, as_timestamp, customer_features

AS_OF: Final = "as_of"
"""Column of a training frame naming the cutoff of each row."""


def training_frame(
    events: pd.DataFrame,
    orders: pd.DataFrame,
    spec: LabelSpec,
    cutoffs: Sequence[datetime | pd.Timestamp | str],
    *,
    config: FeatureConfig | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Features and labels of every known profile at every cutoff.

    Parameters
    ----------
    events, orders
        The input frames.
    spec
        The label to attach.
    cutoffs
        Feature cutoffs; each window ``(cutoff, cutoff + spec.window_days]`` should be observed.
    config
        Feature settings.

    Returns
    -------
    tuple
        ``(features, labels)`` with a ``(as_of, profile)`` MultiIndex on both.
    """
    frames = []
    labels = []
    for cutoff in cutoffs:
        stamp = as_timestamp(cutoff)
        features = customer_features(events, orders, stamp, config=config)
        label = make_labels(spec, orders, stamp, list(features.index))
        features = features.loc[label.index]
        frames.append(pd.concat({stamp: features}, names=[AS_OF]))
        labels.append(pd.concat({stamp: label}, names=[AS_OF]))
    return pd.concat(frames), pd.concat(labels)
