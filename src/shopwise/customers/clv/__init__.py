"""Customer lifetime value: BG/NBD and Gamma-Gamma in scipy, and a gradient-boosted CLV model.

The probabilistic models follow Fader, Hardie and Lee and reproduce the published CDNOW estimates;
they read the calibration summary that :func:`rfm_summary` computes from an orders frame. The
gradient-boosted model reads the customer feature frame. ``lifetimes`` is not used: it warns under
pandas 3 and is no longer maintained.
"""

from shopwise.customers.clv._bgnbd import (
    BetaGeoConfig,
    BetaGeoModel,
    BetaGeoParams,
    bgnbd_log_likelihood,
    fit_bgnbd,
)
from shopwise.customers.clv._cdnow import CALIBRATION_END, HOLDOUT_END, cdnow_sample
from shopwise.customers.clv._gamma_gamma import (
    GammaGammaConfig,
    GammaGammaModel,
    GammaGammaParams,
    clv,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
)
from shopwise.customers.clv._gbm import GbmClvConfig, GbmClvModel, fit_gbm_clv
from shopwise.customers.clv._summary import (
    AGE,
    FREQUENCY,
    HOLDOUT_FREQUENCY,
    HOLDOUT_MONETARY,
    MONETARY,
    RECENCY,
    rfm_summary,
)

__all__ = [
    "AGE",
    "CALIBRATION_END",
    "FREQUENCY",
    "HOLDOUT_END",
    "HOLDOUT_FREQUENCY",
    "HOLDOUT_MONETARY",
    "MONETARY",
    "RECENCY",
    "BetaGeoConfig",
    "BetaGeoModel",
    "BetaGeoParams",
    "GammaGammaConfig",
    "GammaGammaModel",
    "GammaGammaParams",
    "GbmClvConfig",
    "GbmClvModel",
    "bgnbd_log_likelihood",
    "cdnow_sample",
    "clv",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_gbm_clv",
    "gamma_gamma_log_likelihood",
    "rfm_summary",
]
