from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopwise.features import order_features, quintile_score
from shopwise.features.testing import day, orders_frame

AS_OF = day(60)


def test_order_features_known_values() -> None:
    orders = orders_frame(
        [
            ("a", "o1", 0, 40.0, 10.0, None),
            ("a", "o2", 20, 60.0, 0.0, 25),
            ("a", "o3", 50, 80.0, 0.0, 61),  # refunded after the cutoff: not known yet
            ("a", "o4", 70, 500.0, 0.0, None),  # after the cutoff
            ("b", "o5", 45, 30.0, 0.0, None),
        ]
    )
    features = order_features(orders, AS_OF)
    a = features.loc["a"]
    assert a["frequency"] == 3
    assert a["monetary"] == pytest.approx(180.0)
    assert a["aov"] == pytest.approx(60.0)
    assert a["recency_days"] == pytest.approx(10.0)
    assert a["tenure_days"] == pytest.approx(60.0)
    assert a["ipt_mean_days"] == pytest.approx(25.0)
    assert a["ipt_std_days"] == pytest.approx(np.std([20.0, 30.0], ddof=1))
    assert a["discount_share"] == pytest.approx(1 / 3)
    assert a["discount_rate"] == pytest.approx(10.0 / 190.0)
    assert a["refund_rate"] == pytest.approx(1 / 3)
    b = features.loc["b"]
    assert np.isnan(b["ipt_mean_days"])
    assert a["r_score"] == 5  # a bought 10 days ago, b 15 days ago
    assert b["r_score"] < a["r_score"]
    assert a["f_score"] > b["f_score"]


def test_quintile_score_splits_ranks_in_fifths_and_reverses_recency() -> None:
    values = pd.Series(np.arange(1.0, 11.0))
    assert list(quintile_score(values)) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert list(quintile_score(values, higher_is_better=False)) == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    ties = pd.Series([1.0] * 6 + [2.0, 3.0, 4.0, 5.0])
    assert list(quintile_score(ties))[:6] == [1] * 6
    assert quintile_score(pd.Series([np.nan, 1.0])).isna().tolist() == [True, False]
