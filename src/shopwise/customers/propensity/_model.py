"""Calibrated LightGBM propensity classifiers.

A propensity is used as a probability ("confidence above 0.8" in a rule, expected conversions in a
bid), so the raw booster output is calibrated. The training rows are split, stratified, into a fit
part and a validation part; the booster learns on the fit part with early stopping on validation,
then Platt scaling and isotonic regression are each scored by two-fold cross-fitting on the
validation part and the one with the lower Brier score is refitted on all of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold, train_test_split

FloatArray = npt.NDArray[np.float64]
Method = Literal["isotonic", "platt"]


class PropensityConfig(BaseModel):
    """Settings of a propensity model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_estimators: int = Field(default=500, gt=0)
    """Maximum boosting rounds (early stopping usually ends sooner)."""
    learning_rate: float = Field(default=0.03, gt=0)
    """Shrinkage per round."""
    num_leaves: int = Field(default=15, ge=2)
    """Leaves per tree."""
    min_child_samples: int = Field(default=30, ge=1)
    """Minimum rows in a leaf."""
    subsample: float = Field(default=0.8, gt=0, le=1)
    """Row fraction per bagging round."""
    colsample_bytree: float = Field(default=0.8, gt=0, le=1)
    """Feature fraction per tree."""
    validation_fraction: float = Field(default=0.25, gt=0, lt=1)
    """Share of the training rows held out for early stopping and calibration."""
    early_stopping_rounds: int = Field(default=50, gt=0)
    """Rounds without validation improvement before stopping."""
    calibration: Literal["auto", "isotonic", "platt"] = "auto"
    """``auto`` picks the method with the lower cross-fitted Brier score on validation."""
    n_jobs: int = Field(default=1, ge=1)
    """Threads."""


@dataclass(frozen=True)
class Calibrator:
    """A fitted map from raw booster probabilities to calibrated ones."""

    method: Method
    model: Any

    def apply(self, raw: FloatArray) -> FloatArray:
        """Calibrated probabilities for raw booster probabilities."""
        if self.method == "isotonic":
            out = np.asarray(self.model.predict(raw), dtype=np.float64)
        else:
            out = np.asarray(self.model.predict_proba(_logit(raw))[:, 1], dtype=np.float64)
        result: FloatArray = np.clip(out, 0.0, 1.0)
        return result


def _logit(raw: FloatArray) -> FloatArray:
    p = np.clip(raw, 1e-6, 1 - 1e-6)
    logit: FloatArray = np.log(p / (1 - p)).reshape(-1, 1)
    return logit


def fit_calibrator(method: Method, raw: FloatArray, y: npt.NDArray[np.int64]) -> Calibrator:
    """Fit Platt scaling (logistic on the logit) or isotonic regression to ``(raw, y)``."""
    if method == "isotonic":
        model: Any = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
    else:
        model = LogisticRegression(C=1e6).fit(_logit(raw), y)
    return Calibrator(method, model)


def cross_fitted_brier(
    method: Method, raw: FloatArray, y: npt.NDArray[np.int64], seed: int
) -> float:
    """Brier score of ``method`` when each half of ``(raw, y)`` is calibrated on the other half."""
    out = np.zeros_like(raw)
    halves = StratifiedKFold(n_splits=2, shuffle=True, random_state=seed)
    for fit_rows, score_rows in halves.split(raw.reshape(-1, 1), y):
        out[score_rows] = fit_calibrator(method, raw[fit_rows], y[fit_rows]).apply(raw[score_rows])
    return float(brier_score_loss(y, out))


@dataclass(frozen=True)
class PropensityModel:
    """A fitted, calibrated propensity classifier."""

    booster: Any
    calibrator: Calibrator
    features: tuple[str, ...]
    validation_brier: dict[str, float] = field(default_factory=dict)

    def raw(self, features: pd.DataFrame) -> FloatArray:
        """Uncalibrated booster probabilities."""
        out = self.booster.predict_proba(features[list(self.features)])[:, 1]
        return np.asarray(out, dtype=np.float64)

    def score(self, features: pd.DataFrame) -> FloatArray:
        """Calibrated probability of the positive outcome for each row."""
        return self.calibrator.apply(self.raw(features))

    def importance(self) -> pd.Series:
        """Gain importance of each feature, largest first (for explanations)."""
        gains = self.booster.booster_.feature_importance(importance_type="gain")
        return pd.Series(gains, index=list(self.features)).sort_values(ascending=False)


def score_frame(models: Mapping[str, PropensityModel], features: pd.DataFrame) -> pd.DataFrame:
    """Calibrated scores of every model for every row of ``features`` (one column per model).

    This is what a scores endpoint returns for a profile: the features come from
    :func:`shopwise.features.customer_features` at "now", the models from training.
    """
    return pd.DataFrame(
        {name: model.score(features) for name, model in models.items()}, index=features.index
    )


def fit_propensity(
    features: pd.DataFrame,
    labels: pd.Series,
    config: PropensityConfig | None = None,
    *,
    seed: int = 0,
) -> PropensityModel:
    """Fit a LightGBM classifier and calibrate it on a held-out validation split.

    Parameters
    ----------
    features
        Numeric or pandas-categorical feature columns.
    labels
        Boolean or 0/1 outcomes aligned with ``features``; both classes must occur.
    config
        Model settings.
    seed
        Seed of the split, the booster and the calibration cross-fitting.

    Returns
    -------
    PropensityModel
        Booster, chosen calibrator and the validation Brier score of each method tried.
    """
    cfg = config or PropensityConfig()
    y = labels.astype(int).to_numpy()
    if len(np.unique(y)) < 2:
        raise ValueError("propensity labels need both classes")
    split = train_test_split(
        np.arange(len(y)), test_size=cfg.validation_fraction, stratify=y, random_state=seed
    )
    fit_rows, valid_rows = np.asarray(split[0]), np.asarray(split[1])
    booster = lgb.LGBMClassifier(
        n_estimators=cfg.n_estimators,
        learning_rate=cfg.learning_rate,
        num_leaves=cfg.num_leaves,
        min_child_samples=cfg.min_child_samples,
        subsample=cfg.subsample,
        subsample_freq=1,
        colsample_bytree=cfg.colsample_bytree,
        n_jobs=cfg.n_jobs,
        random_state=seed,
        verbose=-1,
    )
    x_fit, x_valid = features.iloc[fit_rows], features.iloc[valid_rows]
    booster.fit(
        x_fit,
        y[fit_rows],
        eval_X=(x_valid,),
        eval_y=(y[valid_rows],),
        callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
    )
    raw = np.asarray(booster.predict_proba(x_valid), dtype=np.float64)[:, 1]
    methods: tuple[Method, ...] = (
        ("platt", "isotonic") if cfg.calibration == "auto" else (cfg.calibration,)
    )
    briers: dict[str, float] = {
        method: cross_fitted_brier(method, raw, y[valid_rows], seed) for method in methods
    }
    chosen = min(methods, key=lambda method: briers[method])
    calibrator = fit_calibrator(chosen, raw, y[valid_rows])
    names = tuple(str(name) for name in features.columns)
    return PropensityModel(booster, calibrator, names, briers)
