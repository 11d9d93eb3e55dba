"""Popular in the shopper's categories, by hand on a tiny catalog."""

from __future__ import annotations

import numpy as np

from shopwise.recommend.candidates import InteractionData, ItemContent, Recommender
from shopwise.recommend.candidates.popular import (
    CategoryPopularRecommender,
    PopularRecommender,
)

# items 0-2 are mugs, 3-4 garden tools, 5 has no category; items 2 and 4 were never bought
CATEGORIES = [["mugs"], ["mugs"], ["mugs"], ["garden"], ["garden"], []]


def _data(categories: list[list[str]] | None = CATEGORIES) -> InteractionData:
    content = None
    if categories is not None:
        content = ItemContent(
            texts=[""] * 6, categories=[list(c) for c in categories], brands=[""] * 6
        )
    sequences = [np.asarray(s, dtype=np.int64) for s in ([0, 1], [1, 3], [1], [5, 0], [3])]
    return InteractionData(sequences, n_items=6, content=content)


def test_category_share_orders_items_then_category_then_item_popularity() -> None:
    model = CategoryPopularRecommender()
    model.fit(_data())
    assert isinstance(model, Recommender)
    garden_fan = model.score([np.asarray([3])])[0]
    # both garden items first (the never-bought 4 included), the popular mugs next
    assert np.argsort(-garden_fan, kind="stable")[:2].tolist() == [3, 4]
    assert garden_fan[4] > garden_fan[1] > garden_fan[2] > garden_fan[5]
    mixed = model.score([np.asarray([0, 3, 1])])[0]
    # two of three recent items are mugs: the never-bought mug beats the never-bought tool
    assert mixed[2] > mixed[4]


def test_without_categories_it_is_plain_popularity() -> None:
    model = CategoryPopularRecommender()
    model.fit(_data(categories=None))
    popular = PopularRecommender()
    popular.fit(_data(categories=None))
    history = [np.asarray([2])]
    np.testing.assert_array_equal(
        np.argsort(-model.score(history)[0], kind="stable"),
        np.argsort(-popular.score(history)[0], kind="stable"),
    )


def test_similar_items_share_the_category() -> None:
    model = CategoryPopularRecommender()
    model.fit(_data())
    items, _ = model.similar_items(3, 2)
    assert items.tolist()[0] == 4
