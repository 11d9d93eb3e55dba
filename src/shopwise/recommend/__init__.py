"""Product recommendations: candidate generators, the learned ranker and the production pipeline.

The package's face is what other stages hold: the :class:`Recommender` protocol and its data types,
what serving loads (:mod:`shopwise.recommend.artifacts`) and the served rule of the item-to-item
lists (:mod:`shopwise.recommend.related`). Training from the store
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
from shopwise.recommend.related import (
    NO_EVIDENCE,
    SIMILAR_BACKWARD,
    ItemNeighbours,
    rank_related,
    similar_neighbours,
)

__all__ = [
    "NO_EVIDENCE",
    "SIMILAR_BACKWARD",
    "FloatArray",
    "IntArray",
    "InteractionData",
    "ItemContent",
    "ItemIndex",
    "ItemNeighbours",
    "Popularity",
    "Precomputed",
    "Recommender",
    "RecommenderArtifact",
    "profile_products",
    "rank_related",
    "similar_neighbours",
    "top_n",
]
