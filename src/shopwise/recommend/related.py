"""The served rule of the item-to-item lists: which model neighbours a product page shows, in
which order.

Serving (:meth:`shopwise.serving.Recommendations.similar`) and the item-to-item benchmark
(:class:`shopwise.evaluate.ServedNeighbours`) both call :func:`rank_related`, so what is measured
is what is served. A model's neighbours of the query product are kept when they carry evidence
(a score above :data:`NO_EVIDENCE`) and then:

* similar from the learned ranker (``learned``, the neighbours a training run keeps of
  :mod:`~shopwise.recommend.related_ranker`): in the ranker's order, which already weighs the
  shared category among its features (moving the product's own category to the front undoes
  what it learned, ``docs/benchmarks.md``, item-to-item);
* similar from another model (the transition generator, when no learned list was trained):
  reordered, never filtered, by the product's category: the neighbours sharing the
  deepest category path prefix with the product first (its own leaf, then each parent up to its
  department), then the others, each group in the model's order. The scores that come back are
  the model's scores, sorted, handed out in the new order: a caller that sorts by score (the
  rule engine) keeps the order, and the scale of the scores stays the model's;
* complementary: the neighbours in another leaf category (a product without one is never in the
  same), in the model's order. Those of the product's own leaf are left to serving's category
  walk, which shows that leaf last of all (what goes with a tent is rarely another tent).

:class:`ItemNeighbours` is what a training run keeps of the complementary model (EASE) and of
the learned similar-items ranker: each item's best neighbours, as a sparse matrix, rather than
the dense item x item weights.
:class:`ContentNeighbours` is what it keeps of the content model for ``/similar``: the content
generator's TF-IDF featurizer (text, category and brand tokens) fitted on the catalog, so that
any catalog row, a product added since training included, finds the trained items closest to
it (:func:`product_document` makes its document as training does).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp

from shopwise.catalog import Product
from shopwise.recommend.candidates import FloatArray, IntArray, ItemContent, Recommender
from shopwise.recommend.candidates.content import ContentConfig, item_documents
from shopwise.recommend.candidates.transition import TransitionRecommender

__all__ = [
    "NO_EVIDENCE",
    "SIMILAR_BACKWARD",
    "ContentNeighbours",
    "ItemNeighbours",
    "product_content",
    "product_document",
    "rank_related",
    "similar_neighbours",
]

NO_EVIDENCE = 2e-6
"""The highest neighbour score without evidence: the transition generator adds a popularity
tie-break of at most 1e-6 to every item, so a product nobody viewed next to the query still gets
a score, which must not read as related (and an EASE weight this small is noise)."""

SIMILAR_BACKWARD = 0.25
"""Weight of the products viewed *before* the query product in ``/similar``'s neighbours of a
transition model (those viewed after weigh 1). The item-to-item benchmark picked it: both
directions win on session clicks, following alone on the Amazon sequences, and this weight holds
both (``docs/benchmarks.md``, item-to-item)."""

Item = TypeVar("Item", bound=Hashable)
CategoryPath = Sequence[Hashable]
"""A product's category path, department first (empty: no category)."""


def _shared_depth(path: CategoryPath, anchor: CategoryPath) -> int:
    depth = 0
    for mine, theirs in zip(path, anchor, strict=False):
        if mine != theirs:
            break
        depth += 1
    return depth


def _same_leaf(path: CategoryPath, anchor: CategoryPath) -> bool:
    return bool(anchor) and len(path) == len(anchor) and _shared_depth(path, anchor) == len(anchor)


def rank_related(
    items: Sequence[Item],
    scores: Sequence[float],
    anchor: CategoryPath,
    path_of: Callable[[Item], CategoryPath],
    complementary: bool,
    learned: bool = False,
) -> list[tuple[Item, float]]:
    """The served order of a model's neighbours of one product (see module docstring).

    Parameters
    ----------
    items, scores
        The model's neighbours of the query product, best first, and their scores.
    anchor
        The query product's category path.
    path_of
        Each neighbour's category path (empty when it has none or is unknown).
    complementary
        Which list: complementary (another leaf) or similar (closest category first).
    learned
        Similar only: the neighbours are the learned ranker's, kept in its order (no category
        reorder).

    Returns
    -------
    list
        ``(item, score)`` of the neighbours with evidence, in served order, scores non-increasing.
    """
    kept = [(item, float(score)) for item, score in zip(items, scores, strict=True)]
    kept = [(item, score) for item, score in kept if score > NO_EVIDENCE]
    if complementary:
        return [(item, score) for item, score in kept if not _same_leaf(path_of(item), anchor)]
    if learned:
        return kept
    ordered = sorted(range(len(kept)), key=lambda i: -_shared_depth(path_of(kept[i][0]), anchor))
    values = sorted((score for _item, score in kept), reverse=True)
    return [(kept[i][0], value) for i, value in zip(ordered, values, strict=True)]


def similar_neighbours(model: Recommender, item: int, n: int) -> tuple[IntArray, FloatArray]:
    """The neighbours ``/similar`` ranks: a transition model's followers and (with
    :data:`SIMILAR_BACKWARD`) predecessors of ``item``, another model's own ``similar_items``."""
    if isinstance(model, TransitionRecommender):
        return model.similar_items(item, n, backward=SIMILAR_BACKWARD)
    return model.similar_items(item, n)


@dataclass
class ItemNeighbours:
    """Each item's best neighbours under one model (``weights[i, j]``: neighbour ``j`` of
    ``i``), with the ``similar_items`` of a :class:`~shopwise.recommend.Recommender`."""

    name: str
    weights: sp.csr_matrix

    @classmethod
    def top(cls, name: str, dense: FloatArray, keep: int, block: int = 1024) -> ItemNeighbours:
        """The ``keep`` largest off-diagonal entries of each row of a square ``dense`` matrix."""
        n_items = dense.shape[0]
        keep = min(keep, n_items - 1)
        matrix = sp.csr_matrix((n_items, n_items), dtype=np.float32)
        if keep < 1:
            return cls(name, matrix)
        parts = []
        for start in range(0, n_items, block):
            chunk = np.array(dense[start : start + block], dtype=np.float32)
            rows = np.arange(len(chunk))
            chunk[rows, rows + start] = -np.inf  # never an item's own neighbour
            best = np.argpartition(-chunk, keep - 1, axis=1)[:, :keep]
            values = np.take_along_axis(chunk, best, axis=1)
            shape = (len(chunk), n_items)
            indptr = np.arange(len(chunk) + 1) * keep
            parts.append(sp.csr_matrix((values.ravel(), best.ravel(), indptr), shape=shape))
        return cls(name, sp.csr_matrix(sp.vstack(parts), dtype=np.float32))

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """At most ``n`` neighbours of ``item``, best first (ties to the lower index)."""
        start, stop = self.weights.indptr[item], self.weights.indptr[item + 1]
        cols = np.asarray(self.weights.indices[start:stop], dtype=np.int64)
        vals = np.asarray(self.weights.data[start:stop], dtype=np.float32)
        order = np.lexsort((cols, -vals))[:n]
        return cols[order], vals[order]


def product_content(products: Sequence[Product | None]) -> ItemContent:
    """The content of catalog rows as the content models read it (``None``: unknown)."""
    texts, categories, brands, prices = [], [], [], []
    for product in products:
        texts.append(f"{product.title}. {product.description}" if product else "")
        categories.append(list(product.category) if product else [])
        brands.append((product.brand or "") if product else "")
        prices.append(product.effective_price if product else np.nan)
    return ItemContent(texts, categories, brands, np.asarray(prices, dtype=np.float32))


def product_document(product: Product) -> str:
    """The document the content featurizer reads of one catalog row (text and attribute tokens,
    :func:`~shopwise.recommend.candidates.content.item_documents`)."""
    return item_documents(product_content([product]))[0]


class ContentNeighbours:
    """The trained items closest in content to any document (cosine of TF-IDF vectors).

    Answers are remembered per (document, ``n``): an answer is a function of the fitted
    featurizer and the document alone, so nothing invalidates it; it holds catalog text only,
    never a shopper's data, and lives as long as the artifact that holds it (a new training run
    starts afresh). At most :attr:`REMEMBERED` answers are kept, the oldest dropped first.

    Parameters
    ----------
    vectorizer
        The fitted featurizer (a scikit-learn ``TfidfVectorizer``).
    vectors
        The trained items' L2-normalized vectors, one row per item (zero: no content).
    """

    REMEMBERED = 10_000

    def __init__(self, vectorizer: Any, vectors: sp.csr_matrix) -> None:
        self.vectorizer = vectorizer
        # kept token-major: a document's few tokens then read only their own items
        self.by_token = sp.csr_matrix(vectors.T, dtype=np.float32)
        self._answers: dict[tuple[str, int], tuple[IntArray, FloatArray]] = {}
        self._lock = threading.Lock()

    @classmethod
    def fit(
        cls, documents: Sequence[str], config: ContentConfig | None = None
    ) -> ContentNeighbours | None:
        """The featurizer of the content generator (``config``'s TF-IDF settings) fitted on the
        items' ``documents``; ``None`` when no item has any."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not any(documents):
            return None
        config = config or ContentConfig()
        vectorizer = TfidfVectorizer(
            min_df=config.min_df, sublinear_tf=config.sublinear_tf, dtype=np.float32
        )
        vectors = sp.csr_matrix(vectorizer.fit_transform(documents), dtype=np.float32)
        return cls(vectorizer, vectors)

    def similar_to(self, document: str, n: int) -> tuple[IntArray, FloatArray]:
        """At most ``n`` items sharing content with ``document``, closest first (ties to the
        lower index), with their cosine similarity (never 0)."""
        key = (document, n)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._nearest(document, n)
            with self._lock:
                if len(self._answers) >= self.REMEMBERED:
                    self._answers.pop(next(iter(self._answers)))
                self._answers[key] = answer
        return answer

    def _nearest(self, document: str, n: int) -> tuple[IntArray, FloatArray]:
        row = sp.csr_matrix(self.vectorizer.transform([document]), dtype=np.float32)
        cosine = np.asarray((row @ self.by_token).toarray(), dtype=np.float32).ravel()
        shared = np.flatnonzero(cosine > 0)
        order = shared[np.lexsort((shared, -cosine[shared]))][:n]
        return order.astype(np.int64), cosine[order]

    def __getstate__(self) -> dict[str, Any]:
        return {"vectorizer": self.vectorizer, "by_token": self.by_token}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.vectorizer = state["vectorizer"]
        self.by_token = state["by_token"]
        self._answers = {}
        self._lock = threading.Lock()
