from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopwise.evaluate._customer import (
    calibration_table,
    classifier_metrics,
    cross_validate_classifier,
    decile_table,
    expected_calibration_error,
    value_metrics,
)


def test_classifier_metrics_known_values() -> None:
    y = [0, 0, 1, 1]
    metrics = classifier_metrics(y, [0.1, 0.4, 0.35, 0.8])
    assert metrics.roc_auc == pytest.approx(0.75)
    assert metrics.brier == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert metrics.base_rate == 0.5 and metrics.n == 4


def test_calibration_table_of_perfectly_calibrated_bins() -> None:
    prob = np.repeat([0.2, 0.8], 10)
    y = np.r_[np.ones(2), np.zeros(8), np.ones(8), np.zeros(2)]
    table = calibration_table(y, prob, n_bins=2)
    assert table["predicted"].tolist() == pytest.approx([0.2, 0.8])
    assert table["observed"].tolist() == pytest.approx([0.2, 0.8])
    assert expected_calibration_error(table) == pytest.approx(0.0)


def test_cross_validation_is_stratified_and_out_of_fold(rng: np.random.Generator) -> None:
    x = pd.DataFrame({"a": rng.normal(size=200)})
    y = pd.Series(x["a"] > 0.5)
    seen: list[float] = []

    def fit_predict(train: pd.DataFrame, labels: pd.Series, test: pd.DataFrame) -> np.ndarray:
        assert not train.index.isin(test.index).any()
        seen.append(float(labels.mean()))
        return (test["a"] > 0.5).astype(float).to_numpy()

    result = cross_validate_classifier(fit_predict, x, y, n_splits=5, seed=1)
    assert len(result.folds) == 5 and result.mean("roc_auc") == 1.0
    assert max(seen) - min(seen) < 0.02
    assert np.array_equal(result.out_of_fold, (x["a"] > 0.5).astype(float).to_numpy())


def test_decile_lift_and_value_metrics() -> None:
    actual = np.r_[np.full(10, 100.0), np.zeros(90)]
    perfect = value_metrics(actual, actual + np.arange(100) * 1e-3)
    assert perfect.top_decile_lift == pytest.approx(10.0)
    assert perfect.top_decile_share == pytest.approx(1.0)
    reversed_ = value_metrics(actual, -actual)
    assert reversed_.top_decile_lift == 0.0 and reversed_.spearman < 0
    assert value_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 5.0]).mae == pytest.approx(1.0)
    assert value_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 5.0]).rmse == pytest.approx(np.sqrt(5 / 3))
    table = decile_table(actual, actual)
    assert table["customers"].sum() == 100 and len(table) == 10
