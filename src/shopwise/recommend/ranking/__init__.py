"""Second stage of the recommender: candidate features and the LightGBM LambdaRank ranker."""

from shopwise.recommend.ranking._features import (
    CandidateBatch,
    CandidateConfig,
    ItemStats,
    build_candidates,
    fit_item_stats,
)
from shopwise.recommend.ranking._ranker import LambdaRanker, LambdaRankerConfig, RankerState

__all__ = [
    "CandidateBatch",
    "CandidateConfig",
    "ItemStats",
    "LambdaRanker",
    "LambdaRankerConfig",
    "RankerState",
    "build_candidates",
    "fit_item_stats",
]
