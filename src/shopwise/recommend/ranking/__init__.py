"""Second stage of the recommender: candidate features, the LightGBM LambdaRank ranker and the
blend that keeps the served list at least as good as its best generator."""

from shopwise.recommend.ranking._blend import (
    Blend,
    BlendConfig,
    blend_scores,
    blended_list,
    choose_blend,
    list_metrics,
    ordered,
)
from shopwise.recommend.ranking._features import (
    CandidateBatch,
    CandidateConfig,
    ItemStats,
    build_candidates,
    fit_item_stats,
)
from shopwise.recommend.ranking._ranker import LambdaRanker, LambdaRankerConfig, RankerState

__all__ = [
    "Blend",
    "BlendConfig",
    "CandidateBatch",
    "CandidateConfig",
    "ItemStats",
    "LambdaRanker",
    "LambdaRankerConfig",
    "RankerState",
    "blend_scores",
    "blended_list",
    "build_candidates",
    "choose_blend",
    "fit_item_stats",
    "list_metrics",
    "ordered",
]
