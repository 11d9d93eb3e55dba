"""Customer models: purchase propensity, lifetime value, segments and audiences.

The model families live in :mod:`shopwise.customers.propensity`, :mod:`shopwise.customers.clv` and
:mod:`shopwise.customers.segments` (pure functions of feature frames, tested on public data). The
rest of the package runs them over the shop's store: :class:`CustomerIntelligence` bundles the
trainer (:class:`CustomerTrainer`), the stored scores (:class:`ScoreStore`) and the audience
export (:class:`AudienceExport`), all reading the consented frames of
:func:`shopwise.features.store_frames`.
"""

from shopwise.customers._artifacts import (
    CUSTOMER_SEGMENT_FEATURES,
    ClvArtifact,
    CustomerModelsConfig,
    PropensityArtifact,
    SegmentArtifact,
    rolling_cutoffs,
)
from shopwise.customers._audience_export import AudienceExport, LookalikeAudience, record_export
from shopwise.customers._champions import FAMILIES, CustomerModels
from shopwise.customers._scores import ScoreStore
from shopwise.customers._scoring import score_profiles
from shopwise.customers._service import CustomerIntelligence
from shopwise.customers._training import CustomerTrainer

__all__ = [
    "CUSTOMER_SEGMENT_FEATURES",
    "FAMILIES",
    "AudienceExport",
    "ClvArtifact",
    "CustomerIntelligence",
    "CustomerModels",
    "CustomerModelsConfig",
    "CustomerTrainer",
    "LookalikeAudience",
    "PropensityArtifact",
    "ScoreStore",
    "SegmentArtifact",
    "record_export",
    "rolling_cutoffs",
    "score_profiles",
]
