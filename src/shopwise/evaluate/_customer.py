"""Offline evaluation of customer models: propensity classifiers and lifetime-value predictions.

Classifiers are judged by stratified k-fold cross-validation on discrimination (ROC AUC, PR AUC)
and on calibration (Brier score, expected calibration error and the reliability curve), because a
rule such as "propensity above 0.8" relies on the probability meaning what it says. Lifetime-value
models are judged on error (MAE, RMSE) and on ranking, which is what audiences use: Spearman rank
correlation and the lift of the top predicted decile over the average customer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

FloatArray = npt.NDArray[np.float64]
FitPredict = Callable[[pd.DataFrame, pd.Series, pd.DataFrame], FloatArray]
"""Fits on ``(train features, train labels)`` and returns probabilities for the test features."""


@dataclass(frozen=True)
class ClassifierMetrics:
    """Discrimination and calibration of predicted probabilities against 0/1 outcomes."""

    roc_auc: float
    pr_auc: float
    brier: float
    log_loss: float
    ece: float
    base_rate: float
    n: int


def calibration_table(
    y_true: npt.ArrayLike, prob: npt.ArrayLike, *, n_bins: int = 10
) -> pd.DataFrame:
    """Reliability table: predictions in equal-count bins against observed rates.

    Parameters
    ----------
    y_true
        Outcomes (0/1 or bool).
    prob
        Predicted probabilities.
    n_bins
        Number of quantile bins (fewer when predictions tie).

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``predicted`` (mean probability), ``observed`` (outcome rate), ``count``.
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(prob, dtype=np.float64)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    frame = pd.DataFrame({"bin": bins, "predicted": p, "observed": y})
    table = frame.groupby("bin").agg(
        predicted=("predicted", "mean"), observed=("observed", "mean"), count=("observed", "size")
    )
    return table.reset_index(drop=True)


def expected_calibration_error(table: pd.DataFrame) -> float:
    """Count-weighted mean absolute gap between predicted and observed rates of a table."""
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["predicted"] - table["observed"]).abs()).sum())


def classifier_metrics(y_true: npt.ArrayLike, prob: npt.ArrayLike) -> ClassifierMetrics:
    """ROC AUC, PR AUC, Brier score, log loss and ECE of ``prob`` against ``y_true``."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(prob, dtype=np.float64), 1e-12, 1 - 1e-12)
    return ClassifierMetrics(
        roc_auc=float(roc_auc_score(y, p)),
        pr_auc=float(average_precision_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        log_loss=float(log_loss(y, p, labels=[0.0, 1.0])),
        ece=expected_calibration_error(calibration_table(y, p)),
        base_rate=float(y.mean()),
        n=int(y.size),
    )


@dataclass(frozen=True)
class CrossValidation:
    """Per-fold metrics and the out-of-fold predictions of a stratified k-fold run."""

    folds: tuple[ClassifierMetrics, ...]
    out_of_fold: FloatArray

    def mean(self, metric: str) -> float:
        """Mean of ``metric`` (a :class:`ClassifierMetrics` field) over folds."""
        return float(np.mean([getattr(fold, metric) for fold in self.folds]))

    def std(self, metric: str) -> float:
        """Standard deviation of ``metric`` over folds."""
        return float(np.std([getattr(fold, metric) for fold in self.folds]))


def cross_validate_classifier(
    fit_predict: FitPredict,
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    n_splits: int = 5,
    seed: int = 0,
) -> CrossValidation:
    """Stratified k-fold evaluation of a probabilistic classifier.

    Parameters
    ----------
    fit_predict
        Trains on one fold's training part and returns probabilities for its test part; any
        validation split (early stopping, calibration choice) must come from the training part.
    features, labels
        The data; ``labels`` is boolean or 0/1.
    n_splits
        Number of folds.
    seed
        Shuffling seed of the folds.

    Returns
    -------
    CrossValidation
        Metrics per fold and the out-of-fold probabilities.
    """
    y = labels.astype(int).to_numpy()
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    out = np.zeros(len(y), dtype=np.float64)
    results = []
    for train, test in folds.split(np.zeros(len(y)), y):
        prob = fit_predict(features.iloc[train], labels.iloc[train], features.iloc[test])
        out[test] = prob
        results.append(classifier_metrics(y[test], prob))
    return CrossValidation(tuple(results), out)


@dataclass(frozen=True)
class ValueMetrics:
    """Error and ranking quality of predicted customer values."""

    mae: float
    rmse: float
    spearman: float
    top_decile_lift: float
    top_decile_share: float
    n: int


def decile_table(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> pd.DataFrame:
    """Customers in ten equal groups by predicted value (decile 1 = highest prediction).

    Returns
    -------
    pandas.DataFrame
        Per decile: ``customers``, ``predicted`` and ``actual`` means, ``share`` of all actual
        value, and ``lift`` (actual mean over the overall mean).
    """
    a = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    order = np.argsort(-p, kind="stable")
    decile = np.empty(a.size, dtype=np.int64)
    decile[order] = np.arange(a.size) * 10 // max(a.size, 1) + 1
    frame = pd.DataFrame({"decile": decile, "actual": a, "predicted": p})
    table = frame.groupby("decile").agg(
        customers=("actual", "size"), predicted=("predicted", "mean"), actual=("actual", "mean")
    )
    total = a.sum()
    table["share"] = frame.groupby("decile")["actual"].sum() / total if total else np.nan
    table["lift"] = table["actual"] / a.mean() if a.mean() else np.nan
    return table


def value_metrics(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> ValueMetrics:
    """MAE, RMSE, Spearman correlation and top-decile lift and share of predicted values."""
    a = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    table = decile_table(a, p)
    rho = stats.spearmanr(a, p).statistic
    return ValueMetrics(
        mae=float(np.mean(np.abs(a - p))),
        rmse=float(np.sqrt(np.mean((a - p) ** 2))),
        spearman=float(rho),
        top_decile_lift=float(table["lift"].iloc[0]),
        top_decile_share=float(table["share"].iloc[0]),
        n=int(a.size),
    )
