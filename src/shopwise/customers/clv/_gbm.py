"""Gradient-boosted lifetime value: LightGBM regression of future spend on behaviour features.

The probabilistic models see only frequency, recency, age and mean spend; this model sees the whole
customer feature frame (:func:`shopwise.features.customer_features` at the calibration cutoff) and
learns the spend of the following horizon directly. The default Tweedie objective suits a target
that is zero for most customers and heavy-tailed for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

FloatArray = npt.NDArray[np.float64]


class GbmClvConfig(BaseModel):
    """Settings of the gradient-boosted CLV regressor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objective: Literal["tweedie", "regression", "huber"] = "tweedie"
    """LightGBM objective; Tweedie handles the mass of zero-spend customers."""
    n_estimators: int = Field(default=300, gt=0)
    """Boosting rounds."""
    learning_rate: float = Field(default=0.03, gt=0)
    """Shrinkage per round."""
    num_leaves: int = Field(default=15, ge=2)
    """Leaves per tree."""
    min_child_samples: int = Field(default=20, ge=1)
    """Minimum customers in a leaf."""
    n_jobs: int = Field(default=1, ge=1)
    """Threads (the shared CI machine has two cores)."""


@dataclass(frozen=True)
class GbmClvModel:
    """A fitted gradient-boosted CLV model."""

    booster: Any
    features: tuple[str, ...]
    horizon_days: float

    def predict(self, features: pd.DataFrame) -> FloatArray:
        """Expected spend over the horizon for each row of ``features``."""
        values = np.asarray(self.booster.predict(features[list(self.features)]), dtype=np.float64)
        result: FloatArray = np.clip(values, 0.0, None)
        return result

    def importance(self) -> pd.Series:
        """Gain importance of each feature, largest first."""
        gains = self.booster.booster_.feature_importance(importance_type="gain")
        return pd.Series(gains, index=list(self.features)).sort_values(ascending=False)


def fit_gbm_clv(
    features: pd.DataFrame,
    target: pd.Series,
    *,
    horizon_days: float,
    config: GbmClvConfig | None = None,
    seed: int = 0,
) -> GbmClvModel:
    """Fit LightGBM to predict future spend from customer features.

    Parameters
    ----------
    features
        Customer features at the calibration cutoff, numeric columns only.
    target
        Spend in the horizon after the cutoff, aligned with ``features``.
    horizon_days
        Length of that horizon (recorded with the model).
    config
        Model settings.
    seed
        Random seed of LightGBM.

    Returns
    -------
    GbmClvModel
        The fitted model.
    """
    cfg = config or GbmClvConfig()
    model = lgb.LGBMRegressor(
        objective=cfg.objective,
        n_estimators=cfg.n_estimators,
        learning_rate=cfg.learning_rate,
        num_leaves=cfg.num_leaves,
        min_child_samples=cfg.min_child_samples,
        n_jobs=cfg.n_jobs,
        random_state=seed,
        verbose=-1,
    )
    model.fit(features, target.to_numpy(dtype=np.float64))
    return GbmClvModel(model, tuple(str(name) for name in features.columns), horizon_days)
