from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopwise.customers.propensity import (
    AS_OF,
    CHURN_90D,
    DISCOUNT_RESPONSE_30D,
    LABELS,
    PURCHASE_7D,
    LabelSpec,
    PropensityConfig,
    fit_propensity,
    make_labels,
    score_frame,
    training_frame,
)
from shopwise.evaluate._customer import classifier_metrics, cross_validate_classifier
from shopwise.features import load_online_shoppers
from shopwise.features.testing import day, orders_frame, random_frames

ORDERS = orders_frame(
    [
        ("a", "o1", 10, 10.0, 0.0, None),
        ("a", "o2", 63, 10.0, 0.0, None),  # within 7 days of day 60
        ("b", "o3", 20, 10.0, 0.0, None),
        ("b", "o4", 75, 10.0, 5.0, None),  # discounted, within 30 days
        ("c", "o5", 68, 10.0, 0.0, None),  # 8 days after: outside the 7-day window
        ("z", "o6", 400, 1.0, 0.0, None),  # keeps every window observed
    ]
)


def test_labels_follow_their_windows() -> None:
    profiles = ["a", "b", "c", "d"]
    purchase = make_labels(PURCHASE_7D, ORDERS, day(60), profiles)
    assert purchase.to_dict() == {"a": True, "b": False, "c": False, "d": False}
    discount = make_labels(DISCOUNT_RESPONSE_30D, ORDERS, day(60), profiles)
    assert discount.to_dict() == {"a": False, "b": True, "c": False, "d": False}
    churn = make_labels(CHURN_90D, ORDERS, day(60), profiles)
    # only past buyers (a, b) get a churn label; both bought again within 90 days
    assert churn.to_dict() == {"a": False, "b": False}
    assert make_labels(CHURN_90D, ORDERS, day(80), profiles).to_dict() == {
        "a": True,
        "b": True,
        "c": True,
    }
    assert set(LABELS) == {"purchase_7d", "discount_response_30d", "churn_90d"}


def test_labels_warn_when_the_window_is_not_observed() -> None:
    spec = LabelSpec(name="late", outcome="purchase", window_days=365)
    with pytest.warns(UserWarning, match="censored"):
        make_labels(spec, ORDERS, day(60), ["a"])


def test_training_frame_stacks_cutoffs_without_leaking(rng: np.random.Generator) -> None:
    events, orders = random_frames(rng, profiles=30, days=200)
    cutoffs = [day(60), day(90)]
    features, labels = training_frame(events, orders, PURCHASE_7D, cutoffs)
    assert features.index.equals(labels.index)
    assert set(features.index.get_level_values(AS_OF)) == set(cutoffs)
    first = features.xs(day(60), level=AS_OF)
    assert (first["tenure_days"].dropna() <= 60).all()


def _synthetic(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    x = pd.DataFrame({"signal": rng.normal(size=n), "noise": rng.normal(size=n)})
    truth = 1 / (1 + np.exp(-(2.5 * x["signal"].to_numpy() - 1.0)))
    y = pd.Series(rng.random(n) < truth)
    return x, y, truth


def test_calibrated_model_discriminates_and_is_calibrated(rng: np.random.Generator) -> None:
    x, y, truth = _synthetic(rng, 6000)
    model = fit_propensity(x.iloc[:4000], y.iloc[:4000], seed=1)
    assert set(model.validation_brier) == {"platt", "isotonic"}
    assert model.calibrator.method == min(model.validation_brier, key=model.validation_brier.get)
    prob = model.score(x.iloc[4000:])
    metrics = classifier_metrics(y.iloc[4000:], prob)
    assert metrics.roc_auc > 0.8
    assert metrics.ece < 0.05
    assert np.mean(np.abs(prob - truth[4000:])) < 0.06
    assert model.importance().index[0] == "signal"
    scores = score_frame({"buy": model}, x.iloc[4000:4010])
    assert list(scores.columns) == ["buy"] and scores["buy"].between(0, 1).all()
    assert np.allclose(scores["buy"], prob[:10])


def test_forced_calibration_method_and_single_class_error(rng: np.random.Generator) -> None:
    x, y, _ = _synthetic(rng, 1000)
    model = fit_propensity(x, y, PropensityConfig(calibration="isotonic"))
    assert model.calibrator.method == "isotonic" and list(model.validation_brier) == ["isotonic"]
    with pytest.raises(ValueError, match="both classes"):
        fit_propensity(x, pd.Series(np.zeros(len(x), dtype=bool)))
    config = PropensityConfig(num_leaves=7)
    assert PropensityConfig.model_validate(config.model_dump()) == config


@pytest.mark.realdata
def test_online_shoppers_five_fold_auc(datasets_dir: Path) -> None:
    features, label = load_online_shoppers(datasets_dir)

    def fit_predict(train: pd.DataFrame, y: pd.Series, test: pd.DataFrame) -> np.ndarray:
        return fit_propensity(train, y, seed=0).score(test)

    result = cross_validate_classifier(fit_predict, features, label, n_splits=5, seed=0)
    assert result.mean("roc_auc") >= 0.93
    assert result.mean("brier") < 0.08
