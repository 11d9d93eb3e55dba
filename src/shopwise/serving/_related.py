"""What completes an item-to-item list (similar or complementary products): content neighbours
and the category walk.

The model's co-viewed products come first. A similar list continues with the product's content
neighbours in its department (:func:`content_neighbours`: the training run's TF-IDF featurizer,
computed at request time for a product added since, remembered per product), so a product the
model never saw, or saw too rarely, is shown beside products like it rather than the
category's best sellers. When they are still fewer than asked, the list is filled
from the query product's category tree: its own leaf category, then each parent up to the
department (the top level), then the whole catalog, each level ranked by popularity (the
champion's time-decayed popularity, then the newest products, which have none yet). Every fill
item's reason names its level (:data:`shopwise.decide.SAME_CATEGORY` and the rest). A
complementary list walks the same levels without the product's own leaf category, which comes
last of all, after the whole catalog: what goes with a tent is rarely another tent, but a list
of one is worse than a list that ends with one.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

from shopwise.catalog import Product
from shopwise.decide import DEPARTMENT, PARENT_CATEGORY, POPULAR_FILL, SAME_CATEGORY, Candidate
from shopwise.recommend import Popularity, RecommenderArtifact, rank_related
from shopwise.recommend.related import product_document

SIMILAR_CONTENT = "similar:content"

Path = tuple[str, ...]
Ranked = list[tuple[str, float]]


class _Built(NamedTuple):
    snapshot: Mapping[str, Product]
    popular: Popularity | None
    levels: dict[Path, Ranked]


class CategoryIndex:
    """The products under every category path prefix, most popular first (``()``: all of them).

    Built once per catalog snapshot and popularity (a stock change or a new champion starts
    afresh), so a request walks lists instead of scanning the catalog. It keeps the snapshot and
    popularity it was built from, so their identities stay valid while it holds them.
    """

    def __init__(self) -> None:
        self._built: _Built | None = None
        self._lock = threading.Lock()

    def levels(
        self, snapshot: Mapping[str, Product], popular: Popularity | None
    ) -> dict[Path, Ranked]:
        """The ranked products of each category path prefix of ``snapshot``."""
        built = self._built
        if built is None or built.snapshot is not snapshot or built.popular is not popular:
            with self._lock:
                built = self._built
                if built is None or built.snapshot is not snapshot or built.popular is not popular:
                    built = self._built = _Built(snapshot, popular, _levels(snapshot, popular))
        return built.levels


def _levels(snapshot: Mapping[str, Product], popular: Popularity | None) -> dict[Path, Ranked]:
    scores = _scores(popular)
    ordered = sorted(
        snapshot.values(),
        key=lambda p: (-scores.get(p.id, 0.0), -p.created_at.timestamp(), p.id),
    )
    levels: dict[Path, Ranked] = defaultdict(list)
    for product in ordered:
        entry = (product.id, scores.get(product.id, 0.0))
        path = tuple(product.category)
        for depth in range(len(path) + 1):
            levels[path[:depth]].append(entry)
    return dict(levels)


def _scores(popular: Popularity | None) -> dict[str, float]:
    """Each product's popularity: the overall list is cut at its length, so the per-category
    lists (the same values) reach products further down."""
    if popular is None:
        return {}
    scores = {pid: score for ranked in popular.by_category.values() for pid, score in ranked}
    scores.update(popular.overall)
    return scores


def walk(
    levels: Mapping[Path, Ranked], product: Product, complementary: bool
) -> Iterator[tuple[str, float, str]]:
    """Fill items for ``product``'s list, narrowest level first, each product once (the product
    itself included: the rule engine leaves it out)."""
    path = tuple(product.category)
    depths = list(range(len(path), -1, -1))
    held: set[str] = set()
    if complementary and path:
        depths = [*depths[1:], len(path)]  # the product's own leaf last of all
        held = {product_id for product_id, _score in levels.get(path, ())}
    seen: set[str] = set()
    for depth in depths:
        reason = _level_reason(depth, len(path))
        for product_id, score in levels.get(path[:depth], ()):
            if product_id in seen or (depth != len(path) and product_id in held):
                continue
            seen.add(product_id)
            yield product_id, score, reason


def _level_reason(depth: int, leaf_depth: int) -> str:
    if depth == 0:
        return POPULAR_FILL
    if depth == leaf_depth:
        return SAME_CATEGORY
    return DEPARTMENT if depth == 1 else PARENT_CATEGORY


def content_neighbours(
    artifact: RecommenderArtifact,
    snapshot: Mapping[str, Product],
    product: Product,
    model: Sequence[Candidate],
    pool: int,
) -> list[Candidate]:
    """``product``'s content neighbours to follow the ``model`` items of its similar list.

    At most ``pool`` trained items sharing content with the product's catalog row, those in its
    department only (any, when it has no category), closest category first
    (:func:`~shopwise.recommend.rank_related`), never the product or a ``model`` item; scored
    below the last ``model`` item, so that they follow it whatever the rules rescale.
    """
    index = artifact.content
    if index is None:
        return []
    items, similarity = index.similar_to(product_document(product), pool)
    department = tuple(product.category[:1])
    taken = {product.id, *(c.product_id for c in model)}
    ids, scores = [], []
    for item, score in zip(items.tolist(), similarity.tolist(), strict=True):
        found = snapshot.get(artifact.items.ids[item])
        if found is None or found.id in taken:
            continue
        if department and tuple(found.category[:1]) != department:
            continue
        ids.append(found.id)
        scores.append(score)
    ranked = rank_related(ids, scores, product.category, lambda pid: snapshot[pid].category, False)
    below = min((c.score for c in model), default=1.0) / 2
    return [Candidate(pid, score * below, [SIMILAR_CONTENT]) for pid, score in ranked]
