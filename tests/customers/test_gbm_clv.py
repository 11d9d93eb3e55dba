from __future__ import annotations

import numpy as np
import pandas as pd

from shopwise.customers.clv import GbmClvConfig, fit_gbm_clv
from shopwise.evaluate._customer import value_metrics


def test_gbm_clv_ranks_by_the_driving_features(rng: np.random.Generator) -> None:
    n = 3000
    features = pd.DataFrame(
        {
            "frequency": rng.poisson(3, n).astype(float),
            "recency_days": rng.uniform(0, 300, n),
            "noise": rng.normal(size=n),
        }
    )
    active = features["recency_days"] < 150
    target = pd.Series(
        np.where(active, features["frequency"] * 40.0, 0.0) * rng.lognormal(0, 0.2, n)
    )
    model = fit_gbm_clv(
        features.iloc[:2000], target.iloc[:2000], horizon_days=90, config=GbmClvConfig(), seed=0
    )
    predicted = model.predict(features.iloc[2000:])
    assert (predicted >= 0).all()
    metrics = value_metrics(target.iloc[2000:], predicted)
    assert metrics.spearman > 0.8
    assert metrics.top_decile_lift > 2.5
    assert model.importance().index[-1] == "noise"
    assert model.horizon_days == 90
