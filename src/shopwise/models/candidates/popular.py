"""Most-popular items: the floor every personalised candidate generator must clear.

Popularity is the number of distinct users (or sessions) who interacted with an item in the
training data, optionally the sum of their interaction weights. Every history gets the same score
vector; masking what the shopper already has is the caller's job (:func:`top_n`), as for every
generator. It is also the fallback serving uses when no personalised model is available.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from shopwise.models.candidates._histories import check_fitted, top_similar
from shopwise.models.candidates._protocol import FloatArray, IntArray, InteractionData


class PopularConfig(BaseModel):
    """Settings of :class:`PopularRecommender`."""

    model_config = ConfigDict(extra="forbid")

    weighted: bool = Field(
        default=False,
        description="Sum interaction weights (view < cart < purchase) instead of counting users.",
    )


@dataclass
class PopularState:
    """Learned state: one popularity value per item."""

    counts: FloatArray


class PopularRecommender:
    """Ranks every item by its training popularity, the same for every history.

    Parameters
    ----------
    config
        Settings; defaults count distinct users per item.
    """

    name = "popular"

    def __init__(self, config: PopularConfig | None = None) -> None:
        self.config = config or PopularConfig()
        self.state: PopularState | None = None

    def fit(self, data: InteractionData) -> None:
        """Count, per item, the users who interacted with it."""
        matrix = data.user_items(binary=not self.config.weighted)
        counts = np.asarray(matrix.sum(axis=0), dtype=np.float32).ravel()
        self.state = PopularState(counts=counts)

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        """The popularity vector, repeated for each history."""
        check_fitted(self.state, self.name)
        assert self.state is not None
        return np.tile(self.state.counts, (len(histories), 1))

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """The most popular items other than ``item``."""
        check_fitted(self.state, self.name)
        assert self.state is not None
        return top_similar(self.state.counts, item, n)
