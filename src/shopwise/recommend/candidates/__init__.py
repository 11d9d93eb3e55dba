"""Candidate generators behind one :class:`Recommender` protocol."""

from shopwise.recommend.candidates._histories import check_fitted
from shopwise.recommend.candidates._protocol import (
    FloatArray,
    IntArray,
    InteractionData,
    ItemContent,
    ItemIndex,
    KeepsUserRows,
    Recommender,
    recommend,
    top_n,
)

__all__ = [
    "FloatArray",
    "IntArray",
    "InteractionData",
    "ItemContent",
    "ItemIndex",
    "KeepsUserRows",
    "Recommender",
    "check_fitted",
    "recommend",
    "top_n",
]
