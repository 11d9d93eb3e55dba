"""Candidate generators behind one :class:`Recommender` protocol."""

from shopwise.models.candidates._protocol import (
    FloatArray,
    IntArray,
    InteractionData,
    ItemContent,
    ItemIndex,
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
    "Recommender",
    "recommend",
    "top_n",
]
