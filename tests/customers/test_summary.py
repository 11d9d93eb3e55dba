from __future__ import annotations

import pytest

from shopwise.customers.clv import rfm_summary
from shopwise.features.testing import day, orders_frame


def test_summary_counts_repeat_days_and_holdout() -> None:
    orders = orders_frame(
        [
            ("a", "o1", 0, 10.0, 0, None),
            ("a", "o2", 0.2, 5.0, 0, None),  # same day as o1: one purchase day
            ("a", "o3", 14, 30.0, 0, None),
            ("a", "o4", 28, 50.0, 0, None),
            ("a", "o5", 40, 70.0, 0, None),  # holdout
            ("b", "o6", 7, 20.0, 0, None),
        ]
    )
    summary = rfm_summary(orders, day(35), holdout_end=day(70), unit_days=7)
    a = summary.loc["a"]
    assert (a["frequency"], a["recency"], a["T"]) == (2, 4.0, 5.0)
    assert a["monetary"] == pytest.approx(40.0)
    assert (a["holdout_frequency"], a["holdout_monetary"]) == (1, 70.0)
    b = summary.loc["b"]
    assert (b["frequency"], b["recency"], b["T"], b["monetary"]) == (0, 0, 4.0, 0.0)
