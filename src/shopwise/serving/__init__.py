"""Serving: recommendations and page decisions in milliseconds, with graceful degradation."""

from shopwise.serving._answers import AnswerCache
from shopwise.serving._experiments import Assigner, ModelVersions, Treatment
from shopwise.serving._exposure import ExposureLog
from shopwise.serving._online import OnlineState
from shopwise.serving._service import (
    CANDIDATES,
    RecommendationRequest,
    Recommendations,
    Served,
    exposure_rows,
)

__all__ = [
    "CANDIDATES",
    "AnswerCache",
    "Assigner",
    "ExposureLog",
    "ModelVersions",
    "OnlineState",
    "RecommendationRequest",
    "Recommendations",
    "Served",
    "Treatment",
    "exposure_rows",
]
