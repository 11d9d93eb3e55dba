"""Drift: has what the models see moved away from what they were trained on?

A drift check (:class:`DriftMonitor`) compares the recommender champion's training window with a
recent window, per feature: the inputs the models use (prices, price bands, top-level categories),
the event mix (types, hour of day, events per profile and per session) and the score distributions
(the champion's best score per profile, the stored customer scores). Numeric features are compared
with the two-sample KS test, the PSI and the normalised Wasserstein distance, categorical ones with
the PSI and the chi-square test (:mod:`shopwise.drift._statistics`), each against thresholds with a
minimum effect (:class:`DriftThresholds`). The report is saved as JSON and a plot under
``<data_dir>/drift/``. The package only detects: the worker's ``drift-check`` job acts on a drift
by requesting a retraining and notifying the shop through the journeys' outbox (a signed webhook).
"""

from shopwise.drift._features import PRICE_BANDS, WindowSample, price_band, sample_windows
from shopwise.drift._monitor import DriftConfig, DriftMonitor
from shopwise.drift._report import DriftReport, latest, report_png
from shopwise.drift._statistics import (
    ChiSquareResult,
    DriftThresholds,
    FeatureDrift,
    KsResult,
    categorical_drift,
    chi_square,
    ks_test,
    numeric_drift,
    psi_categorical,
    psi_numeric,
    quantile_edges,
    wasserstein_normalised,
)
from shopwise.drift._windows import Window, recent_window, reference_window

__all__ = [
    "PRICE_BANDS",
    "ChiSquareResult",
    "DriftConfig",
    "DriftMonitor",
    "DriftReport",
    "DriftThresholds",
    "FeatureDrift",
    "KsResult",
    "Window",
    "WindowSample",
    "categorical_drift",
    "chi_square",
    "ks_test",
    "latest",
    "numeric_drift",
    "price_band",
    "psi_categorical",
    "psi_numeric",
    "quantile_edges",
    "recent_window",
    "reference_window",
    "report_png",
    "sample_windows",
    "wasserstein_normalised",
]
