"""Product recommendations: candidate generators, the learned ranker and the production pipeline.

The package's face is what other stages hold: the :class:`Recommender` protocol and its data types,
and what serving loads (:mod:`shopwise.recommend.artifacts`). Training from the store
(:mod:`shopwise.recommend.training`), the generators (:mod:`shopwise.recommend.candidates`), the
ranker (:mod:`shopwise.recommend.ranking`) and the pipeline (:mod:`shopwise.recommend.pipeline`)
are imported by what trains and evaluates, so serving never loads training code.
"""

from shopwise.recommend.artifacts import (
    Popularity,
    Precomputed,
    RecommenderArtifact,
    profile_products,
)
from shopwise.recommend.candidates import (
    FloatArray,
    IntArray,
    InteractionData,
    ItemContent,
    ItemIndex,
    Recommender,
    top_n,
)

__all__ = [
    "FloatArray",
    "IntArray",
    "InteractionData",
    "ItemContent",
    "ItemIndex",
    "Popularity",
    "Precomputed",
    "Recommender",
    "RecommenderArtifact",
    "profile_products",
    "top_n",
]
