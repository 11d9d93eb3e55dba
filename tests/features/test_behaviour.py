from __future__ import annotations

import numpy as np
import pytest

from shopwise.features import (
    affinities,
    affinity_summary,
    email_features,
    price_features,
    session_features,
)
from shopwise.features.testing import day, events_frame
from shopwise.schema import Columns

AS_OF = day(60)
MINUTE = 1 / 1440


def test_session_features_count_dwell_and_bounce() -> None:
    events = events_frame(
        [
            ("a", "product_viewed", 10, "s1", "i1", 10.0, "c1"),
            ("a", "product_added", 10 + 2 * MINUTE, "s1", "i1", 10.0, "c1"),
            ("a", "products_searched", 10 + 4 * MINUTE, "s1", None, None, None),
            ("a", "page_viewed", 58, "s2", None, None, None),  # a bounce, and recent
            ("a", "product_viewed", 61, "s3", "i2", 5.0, "c1"),  # after the cutoff
            ("b", "product_viewed", 20, "s4", "i3", 7.0, "c2"),
        ]
    )
    frame = session_features(events, AS_OF, recent_days=7)
    a = frame.loc["a"]
    assert (a["sessions"], a["events"], a["views"], a["searches"]) == (2, 4, 1, 1)
    assert a["cart_adds"] == 1 and a["cart_rate"] == 1.0
    assert a["dwell_seconds"] == pytest.approx((240 + 0) / 2, abs=1e-3)
    assert a["bounce_rate"] == 0.5
    assert (a["recent_page_views"], a["recent_views"]) == (1, 0)
    assert a["days_since_event"] == pytest.approx(2.0)
    assert a["days_since_cart_add"] == pytest.approx(50 - 2 * MINUTE)
    assert np.isnan(frame.loc["b", "days_since_cart_add"])


def test_affinities_decay_by_half_life_and_weight_by_event_type() -> None:
    events = events_frame(
        [
            ("a", "product_viewed", 60, "s1", "i1", 1.0, "shoes"),  # weight 1, age 0
            ("a", "order_completed", 30, "s2", "i2", 1.0, "hats"),  # weight 5, age 30 -> 2.5
            ("a", "page_viewed", 60, "s3", None, None, "hats"),  # not an item event
        ]
    )
    long = affinities(events, AS_OF, half_life_days=30).set_index(Columns.CATEGORY)
    assert long.loc["shoes", Columns.WEIGHT] == pytest.approx(1.0)
    assert long.loc["hats", Columns.WEIGHT] == pytest.approx(2.5)
    assert long["share"].sum() == pytest.approx(1.0)
    summary = affinity_summary(long.reset_index(), "category").loc["a"]
    assert summary["category_top_share"] == pytest.approx(2.5 / 3.5)
    shares = np.array([1 / 3.5, 2.5 / 3.5])
    assert summary["category_entropy"] == pytest.approx(-(shares * np.log2(shares)).sum())


def test_price_index_against_category_median() -> None:
    events = events_frame(
        [
            ("a", "product_viewed", 1, "s", "i1", 20.0, "c"),
            ("a", "order_completed", 2, "s", "i2", 5.0, "c"),
            ("b", "product_viewed", 1, "t", "i3", 10.0, "c"),
        ]
    )
    frame = price_features(events, AS_OF)
    # the median price of category c is 10
    assert frame.loc["a", "viewed_price_index"] == pytest.approx(2.0)
    assert frame.loc["a", "bought_price_index"] == pytest.approx(0.5)
    assert frame.loc["a", "bought_vs_viewed"] == pytest.approx(0.25)


def test_email_rates_over_sends() -> None:
    events = events_frame(
        [
            ("a", "email_sent", 1, "e", None, None, None),
            ("a", "email_sent", 2, "e", None, None, None),
            ("a", "email_opened", 2.5, "e", None, None, None),
            ("a", "email_clicked", 50, "e", None, None, None),
            ("b", "page_viewed", 3, "w", None, None, None),
        ]
    )
    frame = email_features(events, AS_OF)
    assert frame.loc["a", "email_open_rate"] == 0.5
    assert frame.loc["a", "email_click_rate"] == 0.5
    assert frame.loc["a", "days_since_email_click"] == pytest.approx(10.0)
    assert frame.loc["b", "emails_sent"] == 0 and np.isnan(frame.loc["b", "email_open_rate"])
