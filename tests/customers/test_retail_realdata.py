"""UCI Online Retail with a time split: both CLV models rank next-quarter spend well."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shopwise.customers.clv import clv, fit_bgnbd, fit_gamma_gamma, fit_gbm_clv, rfm_summary
from shopwise.evaluate._customer import value_metrics
from shopwise.features import customer_features, load_uci_retail

pytestmark = pytest.mark.realdata

CUTOFF = pd.Timestamp("2011-09-09 23:59:59", tz="UTC")
END = pd.Timestamp("2011-12-09 23:59:59", tz="UTC")
HORIZON = 91.0


def test_probabilistic_and_boosted_clv_rank_holdout_spend(datasets_dir: Path) -> None:
    events, orders = load_uci_retail(datasets_dir)
    summary = rfm_summary(orders, CUTOFF, holdout_end=END)
    x, t_x, age, spend = (summary[c] for c in ("frequency", "recency", "T", "monetary"))
    bg = fit_bgnbd(x, t_x, age)
    gg = fit_gamma_gamma(x, spend)
    probabilistic = clv(bg, gg, x, t_x, age, spend, horizon=HORIZON, steps=13)
    earlier = CUTOFF - pd.Timedelta(days=HORIZON)
    train = customer_features(events, orders, earlier)
    target = rfm_summary(orders, earlier, holdout_end=CUTOFF)["holdout_monetary"]
    gbm = fit_gbm_clv(train, target.reindex(train.index).fillna(0.0), horizon_days=HORIZON)
    boosted = gbm.predict(customer_features(events, orders, CUTOFF, profiles=list(summary.index)))
    actual = summary["holdout_monetary"]
    for predicted in (probabilistic, boosted):
        metrics = value_metrics(actual, predicted)
        assert metrics.spearman > 0.35
        assert metrics.top_decile_lift > 4.0
