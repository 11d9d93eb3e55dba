"""Most-popular items: the floor every personalised candidate generator must clear.

Popularity is the number of distinct users (or sessions) who interacted with an item in the
training data, optionally the sum of their interaction weights. Every history gets the same score
vector; masking what the shopper already has is the caller's job (:func:`top_n`), as for every
generator. It is also the fallback serving uses when no personalised model is available.
:class:`CategoryPopularRecommender` is the category-aware variant (popular in the shopper's
categories), which can also order items nobody has bought yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from shopwise.recommend.candidates._histories import check_fitted, history_matrix, top_similar
from shopwise.recommend.candidates._protocol import FloatArray, IntArray, InteractionData


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


class CategoryPopularConfig(BaseModel):
    """Settings of :class:`CategoryPopularRecommender`."""

    model_config = ConfigDict(extra="forbid")

    history_length: int = Field(default=50, ge=1, description="Recent history items profiled.")


@dataclass
class CategoryPopularState:
    """Learned state: item x category indicators, category and item popularity."""

    item_categories: sp.csr_matrix
    category_popularity: FloatArray
    item_popularity: FloatArray


class CategoryPopularRecommender:
    """Popular in the shopper's categories: the non-personal fallback made category-aware.

    An item scores the share of the shopper's recent items that share a category with it (the
    mean over its categories), then the training popularity of its categories, then its own
    (each a tie-break of the one before). Unlike plain popularity it orders items nobody has
    bought yet, by their category alone, which makes it the fair baseline for cold start. Items
    without categories score only their own popularity; without any categories this is
    :class:`PopularRecommender`'s order.

    Parameters
    ----------
    config
        Settings; see :class:`CategoryPopularConfig`.
    """

    name = "popular_category"

    def __init__(self, config: CategoryPopularConfig | None = None) -> None:
        self.config = config or CategoryPopularConfig()
        self.state: CategoryPopularState | None = None

    def fit(self, data: InteractionData) -> None:
        """Index the items' categories and count users per item and per category."""
        counts = np.asarray(data.user_items(binary=True).sum(axis=0), dtype=np.float32).ravel()
        tags = data.content.categories if data.content is not None else []
        vocabulary = {tag: i for i, tag in enumerate(sorted({t for ts in tags for t in ts}))}
        rows = np.repeat(np.arange(len(tags)), [len(set(ts)) for ts in tags])
        cols = [vocabulary[t] for ts in tags for t in sorted(set(ts))]
        item_categories = sp.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), (rows, cols)),
            shape=(data.n_items, len(vocabulary)),
        )
        per_category = np.asarray(item_categories.T @ counts, dtype=np.float32).ravel()
        self.state = CategoryPopularState(
            item_categories=item_categories,
            category_popularity=_scaled(_mean_over_categories(item_categories, per_category)),
            item_popularity=_scaled(counts),
        )

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        """Category affinity of every item for each history, popularity breaking ties."""
        check_fitted(self.state, self.name)
        assert self.state is not None
        state = self.state
        n_items = state.item_categories.shape[0]
        recent = history_matrix([h[-self.config.history_length :] for h in histories], n_items)
        lengths = np.maximum(np.asarray(recent.sum(axis=1)).ravel(), 1.0)
        shares = (recent @ state.item_categories).toarray() / lengths[:, None]
        affinity = (
            np.asarray((state.item_categories @ shares.T).T, dtype=np.float32)
            / np.maximum(np.asarray(state.item_categories.sum(axis=1)).ravel(), 1.0)[None, :]
        )
        tie_breaks = 1e-3 * state.category_popularity + 1e-6 * state.item_popularity
        scores: FloatArray = (affinity + tie_breaks[None, :]).astype(np.float32)
        return scores

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """The most popular items sharing a category with ``item``, then the most popular."""
        scores = self.score([np.asarray([item], dtype=np.int64)])[0]
        return top_similar(scores, item, n)


def _mean_over_categories(item_categories: sp.csr_matrix, values: FloatArray) -> FloatArray:
    sizes = np.maximum(np.asarray(item_categories.sum(axis=1)).ravel(), 1.0)
    mean: FloatArray = (np.asarray(item_categories @ values).ravel() / sizes).astype(np.float32)
    return mean


def _scaled(values: FloatArray) -> FloatArray:
    scaled: FloatArray = (values / max(float(values.max(initial=0.0)), 1.0)).astype(np.float32)
    return scaled
