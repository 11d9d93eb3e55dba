"""A learned second stage for the item-to-item lists (``/similar`` and ``/complementary``).

One neighbour source alone answers a product page poorly: following items, preceding items,
both together, the products two co-visits away, co-occurrence, cosine, EASE and content each
know part of what goes with a product. Like the next-item pipeline's ranker,
:class:`RelatedRanker` takes the union of every source's best neighbours of the query product as
candidates, describes each candidate by every source's score and rank (a source that did not
list it gets a sentinel rank), the two products' popularity and co-visitation breadth and their
shared attributes, and lets a LightGBM lambdarank model order them.

The ranker learns from the training data only, with an internal holdout (:func:`holdout`): the
sources are fitted on each sequence without its end, and the end labels the candidates (the
next item after the last kept one for ``/similar``; for ``/complementary`` the other products of
the last basket, a basket being the items that share the sequence's last timestamp). The sources
are then refitted on all the data and every item's best neighbours under the ranker are kept as
an :class:`~shopwise.recommend.related.ItemNeighbours`, which a training run keeps for
``/similar`` (:func:`shopwise.recommend.training.fit_similar`). A neighbour's score is its
softmax share among the item's candidates, plus :data:`SCORE_FLOOR` so that every ranked
candidate reads as evidence to :func:`~shopwise.recommend.related.rank_related`. Shares of
several query products add up, and how well they add up depends on the softmax temperature, so
for ``/complementary`` a share of the held-out baskets is kept out of training and the
temperature that best completes them is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from shopwise.errors import NotEnoughData
from shopwise.recommend.candidates import FloatArray, IntArray, InteractionData
from shopwise.recommend.candidates.content import item_documents
from shopwise.recommend.candidates.knn import cosine_item_similarities
from shopwise.recommend.candidates.linear import EASEConfig, ease_weights
from shopwise.recommend.candidates.transition import TransitionConfig, TransitionRecommender
from shopwise.recommend.ranking import LambdaRanker, LambdaRankerConfig
from shopwise.recommend.related import NO_EVIDENCE, ItemNeighbours

__all__ = [
    "SCORE_FLOOR",
    "Examples",
    "RelatedRanker",
    "RelatedRankerConfig",
    "Sources",
    "fit_sources",
    "holdout",
]

log = logging.getLogger("shopwise.recommend")

SCORE_FLOOR = 10 * NO_EVIDENCE
"""Added to every kept neighbour's softmax share: each candidate came from a source's best
neighbours, so none may read as "no evidence" to :func:`~shopwise.recommend.rank_related`."""

DEPTH = 6
"""Attributes per item compared for the shared-path features (the first ones)."""

Matrix: TypeAlias = sp.csr_matrix | npt.NDArray[np.float32]
Scores: TypeAlias = npt.NDArray[np.float64]


class RelatedRankerConfig(BaseModel):
    """Settings of :class:`RelatedRanker`."""

    model_config = ConfigDict(extra="forbid")

    candidates: int = Field(default=100, ge=1)
    """Best neighbours of the query product taken from each source."""
    keep: int = Field(default=100, ge=1)
    """Neighbours kept per item after ranking (serving asks for as many)."""
    max_queries: int = Field(default=60_000, ge=1)
    """Training queries (held-out examples) sampled at most, seeded."""
    min_queries: int = Field(default=100, ge=1)
    """Fewer training queries than this are not enough data: a booster learned from a
    handful of examples orders the candidates by noise (a tiny shop keeps its fallback)."""
    per_basket: int = Field(default=5, ge=1)
    """Complementary: query products drawn from each held-out basket at most."""
    two_hop_width: int = Field(default=20, ge=1)
    """Co-visited products of each item followed for the two-hop source."""
    transition: TransitionConfig = Field(default_factory=TransitionConfig)
    """The transition source (read forward and backward)."""
    ease: EASEConfig | None = Field(default_factory=EASEConfig)
    """The EASE source; skipped above its ``max_items`` and when ``None``."""
    ranker: LambdaRankerConfig = Field(default_factory=LambdaRankerConfig)
    temperatures: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5, 1.0, 2.0)
    """Complementary: the softmax temperatures tried on the tuning baskets; the one whose summed
    shares complete those baskets best is kept (``/similar`` ranks one product: it uses 1)."""
    tuning_share: float = Field(default=0.2, gt=0.0, lt=1.0)
    """Complementary: share of the held-out baskets kept out of training to pick the
    temperature."""
    block: int = Field(default=2048, ge=1)
    """Items ranked at once when the neighbours of the whole catalog are computed."""
    seed: int = 0


@dataclass
class Sources:
    """The fitted neighbour sources and the item descriptions the features read.

    ``scores[name]`` holds the source's full item x item scores (sparse, or dense for EASE);
    ``ranks[name]`` its best neighbours per item with their 1-based rank as the value.
    """

    scores: dict[str, Matrix]
    ranks: dict[str, sp.csr_matrix]
    row_max: dict[str, FloatArray]
    counts: FloatArray
    degrees: FloatArray
    """How many products each item was co-visited with (either direction)."""
    content: sp.csr_matrix | None
    attributes: IntArray | None
    """The first :data:`DEPTH` attribute codes of each item (categories, then brand), ``-1``
    padded; ``None`` without content."""
    sentinel: float
    """The rank of a candidate a source did not list (one past the longest list)."""

    @property
    def n_items(self) -> int:
        return len(self.counts)

    def feature_names(self) -> list[str]:
        names = []
        for name in self.ranks:
            kinds = ("score", "relative", "rank") if name in self.scores else ("rank",)
            names += [f"{name}__{kind}" for kind in kinds]
        names += ["pop__candidate", "pop__query", "sources__count"]
        names += ["degree__candidate", "degree__query"]
        if self.content is not None:
            names.append("content__cosine")
        if self.attributes is not None:
            names += ["attributes__prefix", "attributes__shared"]
        return names

    def candidates(self, queries: IntArray) -> tuple[IntArray, IntArray]:
        """``(row, item)`` of every candidate of each query product (the union of the
        sources' best neighbours, the query product itself left out), grouped by row."""
        pattern = sp.csr_matrix((len(queries), self.n_items), dtype=np.float32)
        for ranks in self.ranks.values():
            rows = ranks[queries]
            rows.data = np.ones_like(rows.data)
            pattern = pattern + rows
        pattern = sp.csr_matrix(pattern)
        pattern.sort_indices()
        lengths = np.diff(pattern.indptr)
        rows_out = np.repeat(np.arange(len(queries), dtype=np.int64), lengths)
        items = pattern.indices.astype(np.int64)
        keep = items != queries[rows_out]
        return rows_out[keep], items[keep]

    def features(self, query: IntArray, item: IntArray) -> npt.NDArray[np.float32]:
        """Feature rows of the pairs ``(query[i], item[i])`` in :meth:`feature_names` order."""
        columns: list[npt.NDArray[Any]] = []
        present = np.zeros(len(query), dtype=np.float32)
        for name, ranks in self.ranks.items():
            if name in self.scores:
                score = _lookup(self.scores[name], query, item)
                columns += [score, score / np.maximum(self.row_max[name][query], 1e-12)]
            rank = _lookup(ranks, query, item)
            present += rank > 0
            rank[rank == 0] = self.sentinel
            columns.append(rank)
        columns += [np.log1p(self.counts[item]), np.log1p(self.counts[query]), present]
        columns += [np.log1p(self.degrees[item]), np.log1p(self.degrees[query])]
        if self.content is not None:
            columns.append(_row_dots(self.content, query, item))
        if self.attributes is not None:
            columns += list(_shared_attributes(self.attributes, query, item))
        return np.column_stack(columns).astype(np.float32)


def _lookup(matrix: Matrix, rows: IntArray, cols: IntArray) -> FloatArray:
    if isinstance(matrix, np.ndarray):
        return np.asarray(matrix[rows, cols], dtype=np.float32)
    out = np.empty(len(rows), dtype=np.float32)
    step = 1_000_000
    for start in range(0, len(rows), step):
        part = matrix[rows[start : start + step], cols[start : start + step]]
        out[start : start + step] = np.asarray(part, dtype=np.float32).ravel()
    return out


def _row_dots(vectors: sp.csr_matrix, rows: IntArray, cols: IntArray) -> FloatArray:
    out = np.empty(len(rows), dtype=np.float32)
    step = 200_000
    for start in range(0, len(rows), step):
        left = vectors[rows[start : start + step]]
        right = vectors[cols[start : start + step]]
        out[start : start + step] = np.asarray(left.multiply(right).sum(axis=1)).ravel()
    return out


def _shared_attributes(
    attributes: IntArray, rows: IntArray, cols: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Length of the shared attribute prefix and count of shared attributes of each pair."""
    prefix = np.empty(len(rows), dtype=np.float32)
    shared = np.empty(len(rows), dtype=np.float32)
    step = 500_000
    for start in range(0, len(rows), step):
        left = attributes[rows[start : start + step]]
        right = attributes[cols[start : start + step]]
        equal = (left == right) & (left >= 0)
        prefix[start : start + step] = np.cumprod(equal, axis=1).sum(axis=1)
        same = (left[:, :, None] == right[:, None, :]) & (left[:, :, None] >= 0)
        shared[start : start + step] = same.any(axis=2).sum(axis=1)
    return prefix, shared


def _rank_matrix(matrix: sp.csr_matrix, k: int, offset: int = 0) -> sp.csr_matrix:
    """The ``k`` largest positive entries of each row, valued by their 1-based rank (ties to
    the lower column); row ``i`` is item ``i + offset``, whose own column is left out."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    lengths = np.diff(matrix.indptr)
    own = matrix.indices == np.repeat(np.arange(matrix.shape[0]) + offset, lengths)
    matrix.data[own | (matrix.data < 0)] = 0.0
    matrix.eliminate_zeros()
    lengths = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)
    order = np.lexsort((matrix.indices, -matrix.data, rows))
    rank = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], lengths)
    keep = rank < k
    picked = order[keep]
    values = (rank[keep] + 1).astype(np.float32)
    return sp.csr_matrix((values, (rows[picked], matrix.indices[picked])), shape=matrix.shape)


def _dense_rank_matrix(dense: npt.NDArray[np.float32], k: int, block: int) -> sp.csr_matrix:
    """:func:`_rank_matrix` of a dense square matrix, computed a block of rows at a time."""
    parts = []
    for start in range(0, dense.shape[0], block):
        chunk = sp.csr_matrix(_top_dense(np.array(dense[start : start + block]), start, k))
        parts.append(_rank_matrix(chunk, k, start))
    return sp.csr_matrix(sp.vstack(parts), dtype=np.float32)


def _top_dense(chunk: npt.NDArray[np.float32], offset: int, k: int) -> npt.NDArray[np.float32]:
    """``chunk`` with all but each row's ``k`` largest entries (diagonal excluded) zeroed."""
    rows = np.arange(len(chunk))
    chunk[rows, rows + offset] = 0.0
    k = min(k, chunk.shape[1] - 1)
    if k < 1:
        return np.zeros_like(chunk)
    best = np.argpartition(-chunk, k - 1, axis=1)[:, :k]
    out = np.zeros_like(chunk)
    np.put_along_axis(out, best, np.take_along_axis(chunk, best, axis=1), axis=1)
    return out


def _baskets(data: InteractionData) -> InteractionData | None:
    """Each sequence cut where its timestamp changes (one basket per distinct time, baskets of
    one product left out), or ``None`` without timestamps. Whether it is ``None`` depends on
    the data's kind only, so the holdout's sources and the final ones have the same features."""
    if data.timestamps is None:
        return None
    baskets: list[IntArray] = []
    for items, times in zip(data.sequences, data.timestamps, strict=True):
        cuts = np.flatnonzero(np.diff(times) != 0) + 1
        baskets += [b for b in np.split(items, cuts) if len(np.unique(b)) > 1]
    return InteractionData(baskets, data.n_items)


def _two_hop(both: sp.csr_matrix, width: int) -> sp.csr_matrix:
    """Products two steps away in the co-visitation graph: each item's ``width`` strongest
    co-visited products, as shares of their row, chained twice (the item itself left out)."""
    best = _rank_matrix(both, width)
    strongest = both.multiply(best > 0).tocsr()
    totals = np.asarray(strongest.sum(axis=1)).ravel()
    step = sp.csr_matrix(sp.diags(1.0 / np.maximum(totals, 1e-12)) @ strongest, dtype=np.float32)
    hops = sp.csr_matrix(step @ step, dtype=np.float32)
    hops.setdiag(0.0)
    hops.eliminate_zeros()
    return hops


def _next_counts(data: InteractionData) -> sp.csr_matrix:
    """How often each item came right after another in one sequence (repeats left out)."""
    pairs = [(s[:-1], s[1:]) for s in data.sequences if len(s) > 1]
    shape = (data.n_items, data.n_items)
    if not pairs:
        return sp.csr_matrix(shape, dtype=np.float32)
    before = np.concatenate([p[0] for p in pairs])
    after = np.concatenate([p[1] for p in pairs])
    ones = np.ones(len(before), dtype=np.float32)
    counts = sp.csr_matrix((ones, (before, after)), shape=shape, dtype=np.float32)
    counts.setdiag(0.0)
    counts.eliminate_zeros()
    return counts


def _cooccurrence(data: InteractionData) -> sp.csr_matrix:
    binary = data.user_items(binary=True).tocsc()
    counts = sp.csr_matrix((binary.T @ binary).tocsr(), dtype=np.float32)
    counts.setdiag(0.0)
    counts.eliminate_zeros()
    return counts


def _attribute_codes(data: InteractionData) -> IntArray | None:
    content = data.content
    if content is None or (not any(content.categories) and not any(content.brands)):
        return None
    codes: dict[str, int] = {}
    out = np.full((data.n_items, DEPTH), -1, dtype=np.int64)
    for item, (path, brand) in enumerate(zip(content.categories, content.brands, strict=True)):
        values = [*path, f"brand:{brand}"] if brand else list(path)
        for depth, value in enumerate(values[:DEPTH]):
            out[item, depth] = codes.setdefault(value, len(codes))
    return out


def _content_vectors(data: InteractionData) -> sp.csr_matrix | None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    if data.content is None:
        return None
    documents = item_documents(data.content)
    if not any(documents):
        return None
    vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float32)
    return sp.csr_matrix(vectorizer.fit_transform(documents), dtype=np.float32)


def _content_ranks(vectors: sp.csr_matrix, k: int, block: int) -> sp.csr_matrix:
    parts = []
    transposed = sp.csr_matrix(vectors.T)
    for start in range(0, vectors.shape[0], block):
        dense = np.asarray((vectors[start : start + block] @ transposed).toarray(), np.float32)
        parts.append(_rank_matrix(sp.csr_matrix(_top_dense(dense, start, k)), k, start))
    return sp.csr_matrix(sp.vstack(parts), dtype=np.float32)


def fit_sources(data: InteractionData, config: RelatedRankerConfig) -> Sources:
    """Fit every neighbour source that ``data`` allows (EASE within its item limit, basket
    co-occurrence with timestamps, content with item content)."""
    k = config.candidates
    transition = TransitionRecommender(config.transition, name="forward")
    transition.fit(data)
    assert transition.state is not None
    forward = sp.csr_matrix(transition.state.transitions, dtype=np.float32)
    backward = sp.csr_matrix(forward.T, dtype=np.float32)
    both = sp.csr_matrix(forward + backward, dtype=np.float32)
    scores: dict[str, Matrix] = {
        "forward": forward,
        "backward": backward,
        "both": both,
        "two_hop": _two_hop(both, config.two_hop_width),
        "next": _next_counts(data),
        "cooc": _cooccurrence(data),
    }
    scores["cosine"] = cosine_item_similarities(data.user_items(binary=True), shrink=0.0)
    baskets = _baskets(data)
    if baskets is not None:
        scores["basket"] = _cooccurrence(baskets)
        scores["basket_cosine"] = cosine_item_similarities(baskets.user_items(), shrink=0.0)
    for matrix in scores.values():
        assert isinstance(matrix, sp.csr_matrix)
        matrix.sum_duplicates()
        matrix.sort_indices()
    ranks = {name: _rank_matrix(sp.csr_matrix(m), k) for name, m in scores.items()}
    ease = config.ease
    if ease is not None and data.n_items <= ease.max_items:
        for name, rows in (("ease", data), ("basket_ease", baskets)):
            if rows is None:
                continue
            user_items = rows.user_items(binary=True).astype(np.float64)
            gram = np.asarray((user_items.T @ user_items).toarray(), dtype=np.float64)
            weights = ease_weights(gram, ease.l2)
            scores[name] = weights
            ranks[name] = _dense_rank_matrix(weights, k, config.block)
    content = _content_vectors(data)
    if content is not None:
        ranks["content"] = _content_ranks(content, k, config.block)
    row_max = {name: _row_max(m) for name, m in scores.items()}
    counts = np.bincount(
        np.concatenate(data.sequences) if data.sequences else np.empty(0, dtype=np.int64),
        minlength=data.n_items,
    ).astype(np.float32)
    attributes = _attribute_codes(data)
    degrees = np.diff(both.indptr).astype(np.float32)
    return Sources(scores, ranks, row_max, counts, degrees, content, attributes, float(k + 1))


def _row_max(matrix: Matrix) -> FloatArray:
    if isinstance(matrix, np.ndarray):
        return np.asarray(matrix.max(axis=1), dtype=np.float32)
    return np.asarray(matrix.max(axis=1).toarray(), dtype=np.float32).ravel()


@dataclass
class Examples:
    """Held-out training examples: a query product and the products that label it.

    ``baskets`` are the held-out baskets (complementary only) and ``basket`` the one each
    example came from (``-1`` for ``/similar``).
    """

    queries: IntArray
    positives: list[IntArray]
    basket: IntArray
    baskets: list[IntArray]

    def __len__(self) -> int:
        return len(self.queries)

    def subset(self, rows: IntArray) -> Examples:
        """The examples at ``rows`` (every basket kept)."""
        chosen = [self.positives[i] for i in rows.tolist()]
        return Examples(self.queries[rows], chosen, self.basket[rows], self.baskets)


def holdout(
    data: InteractionData, complementary: bool, per_basket: int, rng: np.random.Generator
) -> tuple[InteractionData, Examples]:
    """The sources' training data without each sequence's end, and the examples the end makes.

    For ``/similar`` the end is the last item and labels the item before it. For
    ``/complementary`` (with timestamps) it is the last basket: the items at the sequence's last
    timestamp; up to ``per_basket`` of its products are drawn as queries, each labelled by the
    basket's other products. A sequence with nothing before its end stays whole and makes no
    example.
    """
    baskets = complementary and data.timestamps is not None
    sequences, weights, times = [], [], []
    queries: list[int] = []
    positives: list[IntArray] = []
    owners: list[int] = []
    held_out: list[IntArray] = []
    for row, items in enumerate(data.sequences):
        start = len(items) - 1
        if baskets and len(items):
            assert data.timestamps is not None
            stamps = data.timestamps[row]
            start = int(np.flatnonzero(stamps != stamps[-1]).max(initial=-1)) + 1
        cut = start if start > 0 else len(items)
        sequences.append(items[:cut])
        weights.append(None if data.weights is None else data.weights[row][:cut])
        times.append(None if data.timestamps is None else data.timestamps[row][:cut])
        if start <= 0:
            continue
        if baskets:
            held = np.unique(items[start:])
            if len(held) < 2:
                continue
            for query in rng.permutation(held)[:per_basket].tolist():
                queries.append(int(query))
                positives.append(held[held != query])
                owners.append(len(held_out))
            held_out.append(held)
        elif items[start] != items[start - 1]:
            queries.append(int(items[start - 1]))
            positives.append(items[start:].copy())
            owners.append(-1)
    kept = InteractionData(
        sequences,
        data.n_items,
        None if data.weights is None else [w for w in weights if w is not None],
        None if data.timestamps is None else [t for t in times if t is not None],
        data.content,
    )
    examples = Examples(
        np.asarray(queries, dtype=np.int64),
        positives,
        np.asarray(owners, dtype=np.int64),
        held_out,
    )
    return kept, examples


class RelatedRanker:
    """The learned item-to-item lists (see the module docstring).

    Parameters
    ----------
    config
        Sources, candidate counts and the booster's settings.
    complementary
        Which list it learns: the products bought with the query product (``True``) or the
        one viewed after it.
    """

    def __init__(self, config: RelatedRankerConfig | None = None, complementary: bool = False):
        self.config = config or RelatedRankerConfig()
        self.complementary = complementary
        self.ranker = LambdaRanker(self.config.ranker)
        self.temperature = 1.0
        """Divides the ranker's scores before the softmax (picked in :meth:`fit`)."""
        self.feature_names: list[str] = []
        self.sources: Sources | None = None

    @property
    def name(self) -> str:
        return "related_ranker_" + ("complementary" if self.complementary else "similar")

    def fit(self, data: InteractionData) -> None:
        """Learn the ranker on a holdout of ``data``, then refit the sources on all of it.

        Raises
        ------
        NotEnoughData
            When the holdout makes fewer than :attr:`RelatedRankerConfig.min_queries` examples,
            or none whose label is among its candidates.
        """
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        kept, examples = holdout(data, self.complementary, cfg.per_basket, rng)
        tuning = rng.random(len(examples.baskets)) < cfg.tuning_share
        examples = examples.subset(
            np.flatnonzero(~np.isin(examples.basket, np.flatnonzero(tuning)))
        )
        if not len(examples):
            raise NotEnoughData("no sequence has an end to learn the item-to-item ranker from")
        if len(examples) < cfg.min_queries:
            raise NotEnoughData(
                f"{len(examples)} sequence ends to learn the item-to-item ranker from, fewer "
                f"than min_queries {cfg.min_queries}"
            )
        if len(examples) > cfg.max_queries:
            examples = examples.subset(
                np.sort(rng.choice(len(examples), cfg.max_queries, replace=False))
            )
        sources = fit_sources(kept, cfg)
        rows, items = sources.candidates(examples.queries)
        labels = _labels(examples, rows, items, data.n_items)
        self.feature_names = sources.feature_names()
        features = sources.features(examples.queries[rows], items)
        log.info(
            "related ranker: %d examples, %d candidate rows, %.3f of examples labelled",
            len(examples),
            len(rows),
            len(np.unique(rows[labels > 0])) / max(len(examples), 1),
        )
        self.ranker.fit(features, labels, rows, self.feature_names)
        held = [examples.baskets[i] for i in np.flatnonzero(tuning).tolist()]
        if held:
            self.temperature = self._tuned_temperature(sources, held, rng)
        self.sources = fit_sources(data, cfg)

    def _tuned_temperature(
        self, sources: Sources, baskets: list[IntArray], rng: np.random.Generator
    ) -> float:
        """The temperature whose summed shares best complete ``baskets`` (one product hidden,
        the others asked, as the item-to-item harness asks), the first of equals."""
        hidden = np.asarray([b[rng.integers(len(b))] for b in baskets], dtype=np.int64)
        asked = np.unique(np.concatenate(baskets))
        column = np.full(sources.n_items, -1, dtype=np.int64)
        column[asked] = np.arange(len(asked))
        lengths = np.asarray([len(b) - 1 for b in baskets], dtype=np.int64)
        query_items = np.concatenate([b[b != h] for b, h in zip(baskets, hidden, strict=True)])
        owners = np.repeat(np.arange(len(baskets)), lengths)
        shape = (len(baskets), len(asked))
        queries = sp.csr_matrix((np.ones(len(owners)), (owners, column[query_items])), shape)
        rows, items, scores = self._scored(sources, asked)
        best, best_hits = 1.0, -1
        for temperature in self.config.temperatures:
            values = self._kept(rows, items, scores / temperature, len(asked), sources.n_items)
            totals = (queries @ values).toarray()
            totals[owners, query_items] = -np.inf
            top = np.argsort(-totals, axis=1, kind="stable")[:, :10]
            hits = int(np.count_nonzero(top == hidden[:, None]))
            if hits > best_hits:
                best, best_hits = temperature, hits
        log.info(
            "related ranker: temperature %s completes %d of %d tuning baskets",
            best,
            best_hits,
            len(baskets),
        )
        return best

    def neighbours(self, items: Sequence[int] | None = None) -> ItemNeighbours:
        """Every item's (or ``items``') best :attr:`RelatedRankerConfig.keep` neighbours under
        the ranker, as the neighbour matrix serving reads (other rows empty)."""
        sources = self._require_sources()
        wanted = (
            np.arange(sources.n_items, dtype=np.int64)
            if items is None
            else np.unique(np.asarray(items, dtype=np.int64))
        )
        parts: list[sp.csr_matrix] = []
        for start in range(0, len(wanted), self.config.block):
            parts.append(self._ranked_block(sources, wanted[start : start + self.config.block]))
        shape = (sources.n_items, sources.n_items)
        if not parts:
            return ItemNeighbours(self.name, sp.csr_matrix(shape, dtype=np.float32))
        coo = sp.vstack(parts).tocoo()
        matrix = sp.csr_matrix((coo.data, (wanted[coo.row], coo.col)), shape=shape)
        return ItemNeighbours(self.name, sp.csr_matrix(matrix, dtype=np.float32))

    def _ranked_block(self, sources: Sources, queries: IntArray) -> sp.csr_matrix:
        rows, items, scores = self._scored(sources, queries)
        return self._kept(rows, items, scores / self.temperature, len(queries), sources.n_items)

    def _scored(self, sources: Sources, queries: IntArray) -> tuple[IntArray, IntArray, Scores]:
        """``(row, item, score)`` of every candidate of each query product, best first."""
        rows, items = sources.candidates(queries)
        scores = self.ranker.predict(sources.features(queries[rows], items)).astype(np.float64)
        order = np.lexsort((items, -scores, rows))
        return rows[order], items[order], scores[order]

    def _kept(
        self, rows: IntArray, items: IntArray, scores: Scores, n_rows: int, n_items: int
    ) -> sp.csr_matrix:
        """The best :attr:`RelatedRankerConfig.keep` candidates of each row (``rows`` sorted,
        best first within a row), valued by their softmax share plus :data:`SCORE_FLOOR`."""
        starts = np.searchsorted(rows, np.arange(n_rows))
        shares = np.exp(scores - scores[starts[rows]]) if len(rows) else scores
        totals = np.bincount(rows, weights=shares, minlength=n_rows)
        values = shares / totals[rows] + SCORE_FLOOR
        keep = np.arange(len(rows)) - starts[rows] < self.config.keep
        shape = (n_rows, n_items)
        return sp.csr_matrix((values[keep].astype(np.float32), (rows[keep], items[keep])), shape)

    def _require_sources(self) -> Sources:
        if self.sources is None:
            raise RuntimeError("related ranker: call fit() first")
        return self.sources


def _labels(examples: Examples, rows: IntArray, items: IntArray, n_items: int) -> FloatArray:
    """1 where a candidate is one of its example's positives, else 0."""
    lengths = np.asarray([len(p) for p in examples.positives], dtype=np.int64)
    owners = np.repeat(np.arange(len(examples), dtype=np.int64), lengths)
    flat = np.concatenate(examples.positives) if len(examples) else owners
    positive = np.unique(owners * n_items + flat)
    return np.isin(rows * n_items + items, positive).astype(np.float32)
