"""Purchase, discount-response and churn propensity: labels as code and calibrated LightGBM.

Labels (:class:`LabelSpec`) declare their outcome and window; :func:`training_frame` stacks the
point-in-time features of several cutoffs with their labels; :func:`fit_propensity` trains a
LightGBM classifier whose probabilities are calibrated by the better of Platt scaling and isotonic
regression on a validation split.
"""

from shopwise.customers.propensity._labels import (
    CHURN_90D,
    DISCOUNT_RESPONSE_30D,
    LABELS,
    PURCHASE_7D,
    LabelSpec,
    make_labels,
)
from shopwise.customers.propensity._model import (
    Calibrator,
    PropensityConfig,
    PropensityModel,
    fit_calibrator,
    fit_propensity,
    score_frame,
)
from shopwise.customers.propensity._training import AS_OF, training_frame

__all__ = [
    "AS_OF",
    "CHURN_90D",
    "DISCOUNT_RESPONSE_30D",
    "LABELS",
    "PURCHASE_7D",
    "Calibrator",
    "LabelSpec",
    "PropensityConfig",
    "PropensityModel",
    "fit_calibrator",
    "fit_propensity",
    "make_labels",
    "score_frame",
    "training_frame",
]
