"""Recommender training from the event store: the training set, the fit, the precomputed lists.

Only events whose shopper allowed personalization feed training (read through
:class:`shopwise.privacy.ConsentedEvents`). Each product event becomes an interaction weighted by
its type (view < cart < purchase, :data:`shopwise.schema.ITEM_EVENT_WEIGHTS`), in the canonical
profile's time order. What a run produces for serving is in :mod:`shopwise.recommend.artifacts`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from shopwise import __version__
from shopwise.catalog import Catalog
from shopwise.errors import NotEnoughData
from shopwise.logs import Progress
from shopwise.privacy import ConsentedEvent, ConsentedEvents, ConsentPolicy
from shopwise.recommend.artifacts import Popularity, RecommenderArtifact
from shopwise.recommend.candidates import (
    IntArray,
    InteractionData,
    ItemContent,
    ItemIndex,
    Recommender,
    top_n,
)
from shopwise.recommend.candidates.content import item_documents
from shopwise.recommend.candidates.linear import EASEConfig, ease_weights
from shopwise.recommend.lists import Ranked
from shopwise.recommend.related import ContentNeighbours, ItemNeighbours, product_content
from shopwise.recommend.related_ranker import RelatedRanker, RelatedRankerConfig
from shopwise.schema import ITEM_EVENT_WEIGHTS, Columns, EventType, Purpose

log = logging.getLogger("shopwise.recommend")

NEIGHBOURS = 100
"""Neighbours kept per item of the complementary model (serving asks for as many)."""


@dataclass
class Interaction:
    profile: str
    product: str
    weight: float
    timestamp: int


@dataclass
class TrainingSet:
    """Interactions grouped by profile, with the item index and item content.

    ``window`` is when the first and the last interaction happened (epoch ms), ``fingerprint``
    a SHA-256 of every interaction (profile, product, time, weight) in order: two runs on the same
    data share it.
    """

    data: InteractionData
    items: ItemIndex
    profile_ids: list[str]
    excluded_events: int
    window: tuple[int, int]
    fingerprint: str


def consented_interactions(
    engine: sa.Engine, policy: ConsentPolicy
) -> tuple[list[Interaction], int]:
    """Every product interaction that may serve personalization, in event order, and the number
    of events left out for lack of consent."""
    stored = ConsentedEvents(engine, policy, Purpose.PERSONALIZATION, ITEM_EVENT_WEIGHTS)
    interactions = [interaction for event in stored for interaction in _interactions(event)]
    return interactions, stored.excluded


def _interactions(event: ConsentedEvent) -> Iterator[Interaction]:
    weight = ITEM_EVENT_WEIGHTS[event.type]
    if event.type == EventType.ORDER_COMPLETED:
        for line in event.properties.get("products") or []:
            yield Interaction(event.profile, str(line[Columns.ITEM]), weight, event.timestamp)
    elif event.product_id:
        yield Interaction(event.profile, event.product_id, weight, event.timestamp)


def item_content(items: ItemIndex, catalog: Catalog) -> ItemContent:
    snapshot = catalog.snapshot()
    return product_content([snapshot.get(item) for item in items.ids])


def fingerprint(interactions: list[Interaction]) -> str:
    """SHA-256 of the interactions in order (profile, product, time, weight)."""
    digest = hashlib.sha256()
    for i in interactions:
        digest.update(f"{i.profile}\x1f{i.product}\x1f{i.timestamp}\x1f{i.weight}\x1e".encode())
    return digest.hexdigest()


def build_training_set(
    engine: sa.Engine, catalog: Catalog, policy: ConsentPolicy, until_ms: int | None = None
) -> TrainingSet:
    """Every consented interaction (before ``until_ms`` when given), as sequences per profile
    over catalog + seen items."""
    per_profile: dict[str, list[Interaction]] = defaultdict(list)
    interactions, excluded = consented_interactions(engine, policy)
    if until_ms is not None:
        interactions = [i for i in interactions if i.timestamp < until_ms]
    if not interactions:
        raise NotEnoughData("no consented product interactions in the store to train on")
    for interaction in interactions:
        per_profile[interaction.profile].append(interaction)
    known = set(catalog.snapshot())
    seen = {i.product for rows in per_profile.values() for i in rows}
    items = ItemIndex(tuple(sorted(known | seen)))
    profile_ids = sorted(per_profile)
    sequences, weights, times = [], [], []
    for profile in profile_ids:
        rows = sorted(per_profile[profile], key=lambda i: i.timestamp)
        sequences.append(np.asarray([items.positions[i.product] for i in rows], dtype=np.int64))
        weights.append(np.asarray([i.weight for i in rows], dtype=np.float32))
        times.append(np.asarray([i.timestamp // 1000 for i in rows], dtype=np.int64))
    data = InteractionData(
        sequences, len(items), weights, times, content=item_content(items, catalog)
    )
    stamps = [i.timestamp for i in interactions]
    window = (min(stamps), max(stamps))
    return TrainingSet(data, items, profile_ids, excluded, window, fingerprint(interactions))


def _ranked(scores: dict[str, float], limit: int) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def popularity(
    training: TrainingSet, catalog: Catalog, half_life_days: float = 14.0, limit: int = 200
) -> Popularity:
    """Popularity with a time decay (and a 3-day half-life for trending)."""
    now = max((int(t.max()) for t in training.data.timestamps or [] if len(t)), default=0)
    overall: dict[str, float] = defaultdict(float)
    trending: dict[str, float] = defaultdict(float)
    for seq, w, t in zip(
        training.data.sequences,
        training.data.weights or [],
        training.data.timestamps or [],
        strict=True,
    ):
        age_days = (now - t) / 86_400
        for item, weight, age in zip(seq, w, age_days, strict=True):
            pid = training.items.ids[int(item)]
            overall[pid] += float(weight) * 0.5 ** (age / half_life_days)
            trending[pid] += float(weight) * 0.5 ** (age / 3.0)
    snapshot = catalog.snapshot()
    by_category: dict[str, dict[str, float]] = defaultdict(dict)
    for pid, score in overall.items():
        product = snapshot.get(pid)
        for name in product.category if product else []:
            by_category[name][pid] = score
    return Popularity(
        _ranked(overall, limit),
        {name: _ranked(scores, limit) for name, scores in by_category.items()},
        _ranked(trending, limit),
    )


def session_generator(model: Recommender) -> Recommender:
    """The fast generator of ``model`` for request-time session candidates."""
    from shopwise.recommend.candidates.transition import TransitionRecommender

    if isinstance(model, TransitionRecommender):
        return model
    for generator in getattr(model, "generators", []):
        if isinstance(generator, TransitionRecommender):
            return generator
    return model


class ComplementsConfig(BaseModel):
    """Settings of the complementary model (:func:`fit_complements`)."""

    model_config = ConfigDict(extra="forbid")

    ease: EASEConfig = Field(default_factory=EASEConfig)
    """The EASE solve (its ``l2`` when nothing is tuned, its item limit)."""
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Emphasised denoising when nothing is tuned: each item's own Gram entry is penalised by
    ``dropout / (1 - dropout)`` of itself on top of ``l2`` (EDLAE, Steck 2020), which keeps
    popular items from explaining every basket."""
    l2_grid: tuple[float, ...] = (5.0, 20.0, 80.0)
    """Ridge penalties tried on the validation baskets."""
    dropout_grid: tuple[float, ...] = (0.0, 0.25, 0.5)
    """Dropout emphases tried on the validation baskets."""
    validation_share: float = Field(default=0.1, gt=0.0, lt=1.0)
    """Share of the latest multi-product orders that tune ``l2`` and ``dropout``."""
    min_baskets: int = Field(default=50, ge=1)
    """Orders of two or more products needed to learn from orders (fewer: the customers'
    sequences) and validation orders needed to tune (fewer: the defaults)."""
    tune_max_items: int = Field(default=6_000, ge=1)
    """Above this many ordered products the grid is not tried (each point is a full solve)."""
    seed: int = 0
    """Draws the hidden product of each validation order."""


def fit_complements(
    data: InteractionData, config: ComplementsConfig | None = None
) -> tuple[ItemNeighbours | None, str]:
    """The complementary model: EASE over the orders (the products of one ``order_completed``
    share its time, :func:`order_baskets`), its ``l2`` and emphasis tuned by completing the
    latest orders (:func:`tuned_complements`); each item's best :data:`NEIGHBOURS`. With fewer
    than ``min_baskets`` orders of two products or more, EASE over each customer's sequence.
    ``None`` when the products to solve for are over EASE's item limit (its weights are a dense
    item x item matrix). Returns what was done in words as well.
    """
    config = config or ComplementsConfig()
    baskets, times = order_baskets(data)
    multi = sum(len(b) > 1 for b in baskets)
    rows = "orders" if multi >= config.min_baskets else "customer sequences"
    if rows == "customer sequences":
        baskets = [np.unique(s) for s in data.sequences if len(s)]
        times = np.zeros(len(baskets), dtype=np.int64)
    solved = len(np.unique(np.concatenate(baskets))) if baskets else 0
    if solved > config.ease.max_items:
        reason = (
            f"skipped: {solved} items is over EASE's max_items {config.ease.max_items}; "
            "/complementary uses the transition model"
        )
        log.warning("complementary model %s", reason)
        return None, reason
    l2, dropout, how = config.ease.l2, config.dropout, "defaults"
    if rows == "orders":
        l2, dropout, how = tuned_complements(baskets, times, data.n_items, config)
    note = f"ease on {len(baskets)} {rows} (l2 {l2:g}, dropout {dropout:g}, {how})"
    log.info("complementary model: %s", note)
    return basket_weights(baskets, data.n_items, l2, dropout), note


def tuned_complements(
    baskets: Sequence[IntArray], times: IntArray, n_items: int, config: ComplementsConfig
) -> tuple[float, float, str]:
    """The ``(l2, dropout)`` of the grid whose model, fitted on the orders before the latest
    ``validation_share`` of multi-product orders, completes those best (:func:`completion_ndcg`,
    the first of equals), with how they were chosen; the defaults when there are fewer than
    ``min_baskets`` such orders or more than ``tune_max_items`` products to solve for."""
    multi = np.flatnonzero([len(b) > 1 for b in baskets])
    held = int(len(multi) * config.validation_share)
    defaults = (config.ease.l2, config.dropout)
    if held < config.min_baskets:
        return (*defaults, f"defaults: {held} validation orders")
    latest = multi[np.argsort(times[multi], kind="stable")][-held:]
    cutoff = int(times[latest].min())
    fitted = [b for b, t in zip(baskets, times.tolist(), strict=True) if t < cutoff]
    solved = len(np.unique(np.concatenate(fitted))) if fitted else 0
    if not fitted or solved > config.tune_max_items:
        return (*defaults, f"defaults: {solved} products to tune on")
    validation = [baskets[i] for i in latest.tolist()]
    best, best_ndcg = defaults, -1.0
    for l2 in config.l2_grid:
        for dropout in config.dropout_grid:
            model = basket_weights(fitted, n_items, l2, dropout)
            ndcg = completion_ndcg(model, validation, np.random.default_rng(config.seed))
            if ndcg > best_ndcg:
                best, best_ndcg = (l2, dropout), ndcg
    return (*best, f"tuned on {held} latest orders, NDCG@10 {best_ndcg:.4f}")


def order_baskets(data: InteractionData) -> tuple[list[IntArray], IntArray]:
    """Each sequence cut where its timestamp changes: the distinct products of one order
    (an ``order_completed`` event's lines share its time), with the order's time; empty
    without timestamps."""
    baskets: list[IntArray] = []
    times: list[int] = []
    for items, stamps in zip(data.sequences, data.timestamps or [], strict=False):
        cuts = np.flatnonzero(np.diff(stamps) != 0) + 1
        for basket, when in zip(np.split(items, cuts), np.split(stamps, cuts), strict=True):
            baskets.append(np.unique(basket))
            times.append(int(when[0]))
    return baskets, np.asarray(times, dtype=np.int64)


def basket_weights(
    baskets: Sequence[IntArray], n_items: int, l2: float, dropout: float
) -> ItemNeighbours:
    """EASE (with ``dropout``'s emphasis) of the ``baskets`` x item matrix: each product's best
    :data:`NEIGHBOURS`. Only products in some basket enter the solve (the others have no
    weight), which keeps the dense matrix as small as the ordered assortment."""
    active = np.unique(np.concatenate(baskets)) if baskets else np.empty(0, dtype=np.int64)
    column = np.full(n_items, -1, dtype=np.int64)
    column[active] = np.arange(len(active))
    rows = _incidence(baskets, column, len(active))
    gram = np.asarray((rows.T @ rows).toarray(), dtype=np.float64)
    gram[np.diag_indices_from(gram)] *= 1.0 / (1.0 - dropout)
    weights = ease_weights(gram, l2) if len(active) else np.zeros((0, 0), np.float32)
    kept = ItemNeighbours.top("ease", weights, NEIGHBOURS).weights.tocoo()
    matrix = sp.csr_matrix(
        (kept.data, (active[kept.row], active[kept.col])), shape=(n_items, n_items)
    )
    return ItemNeighbours("ease", sp.csr_matrix(matrix, dtype=np.float32))


def _incidence(baskets: Sequence[IntArray], column: IntArray, width: int) -> sp.csr_matrix:
    lengths = np.asarray([len(b) for b in baskets], dtype=np.int64)
    owners = np.repeat(np.arange(len(baskets), dtype=np.int64), lengths)
    cols = column[np.concatenate(baskets)] if len(baskets) else owners
    ones = np.ones(len(cols), dtype=np.float64)
    return sp.csr_matrix((ones, (owners, cols)), shape=(len(baskets), width))


def completion_ndcg(
    neighbours: ItemNeighbours, baskets: Sequence[IntArray], rng: np.random.Generator, k: int = 10
) -> float:
    """NDCG@k of completing ``baskets`` with one product hidden (seeded) and the others
    asked, each asked product's neighbours summed (the item-to-item harness's protocol)."""
    hidden = np.asarray([b[rng.integers(len(b))] for b in baskets], dtype=np.int64)
    asked = [b[b != h] for b, h in zip(baskets, hidden, strict=True)]
    n_items = neighbours.weights.shape[0]
    queries = _incidence(asked, np.arange(n_items), n_items)
    gains = 0.0
    for start in range(0, len(asked), 1024):
        scores = (queries[start : start + 1024] @ neighbours.weights).toarray()
        part = queries[start : start + 1024].tocoo()
        scores[part.row, part.col] = -np.inf
        target = hidden[start : start + 1024]
        better = (scores > scores[np.arange(len(target)), target][:, None]).sum(axis=1)
        found = (better < k) & (scores[np.arange(len(target)), target] > 0)
        gains += float(np.sum(1.0 / np.log2(better[found] + 2.0)))
    return gains / max(len(baskets), 1)


def fit_similar(
    data: InteractionData, config: RelatedRankerConfig | None = None
) -> tuple[ItemNeighbours | None, str]:
    """The similar-items model ``/similar`` serves: the learned ranker over every neighbour
    source (:class:`~shopwise.recommend.related_ranker.RelatedRanker`), its lists of
    :func:`learned_similar`; ``None`` when the data is too thin to learn it from (a tiny shop:
    the transition generator answers), with what was done in words.
    """
    ranker = RelatedRanker(config)
    try:
        ranker.fit(data)
    except NotEnoughData as error:
        reason = f"skipped: {error}; /similar uses the transition model"
        log.warning("similar-items ranker %s", reason)
        return None, reason
    return learned_similar(ranker, data), ranker.name


def learned_similar(ranker: RelatedRanker, data: InteractionData) -> ItemNeighbours:
    """The fitted ``ranker``'s best neighbours of every item of ``data``'s sequences. An item
    nobody interacted with keeps no row: its candidates would come from content alone, and
    serving's content neighbours answer for it as for a product added since training."""
    seen: list[int] = []
    if data.sequences:
        seen = np.unique(np.concatenate(data.sequences)).tolist()
    return ranker.neighbours(seen)


def fit_report(model: Recommender) -> dict[str, Any] | None:
    """What the fitted ``model`` reports about its own fit (its ``fit_report()``: the pipeline's
    ranker-query scheme and blend with their validation metrics), or None if it reports nothing."""
    report = getattr(model, "fit_report", None)
    return dict(report()) if callable(report) else None


def now_ms() -> int:
    return int(time.time() * 1000)


def _shopwise() -> Recommender:
    from shopwise.recommend.pipeline import ShopwiseRecommender

    return ShopwiseRecommender()


def _transition() -> Recommender:
    from shopwise.recommend.candidates.transition import TransitionConfig, TransitionRecommender

    return TransitionRecommender(TransitionConfig(session_gap_minutes=30.0))


def _popular() -> Recommender:
    from shopwise.recommend.candidates.popular import PopularConfig, PopularRecommender

    return PopularRecommender(PopularConfig(weighted=True))


RECIPES: dict[str, Callable[[], Recommender]] = {
    "shopwise": _shopwise,
    "transition": _transition,
    "popular": _popular,
}
"""The production recommenders by name: ``shopwise`` (candidates + ranker), ``transition`` (the
fast session generator alone) and ``popular`` (no personalization, the floor)."""


def build_model(name: str) -> Recommender:
    """A new, unfitted production recommender of :data:`RECIPES` by name."""
    try:
        return RECIPES[name]()
    except KeyError:
        known = ", ".join(repr(n) for n in RECIPES)
        raise ValueError(f"unknown recommender {name!r}; use one of {known}") from None


def model_params(model: Recommender) -> dict[str, Any]:
    """The settings ``model`` was built with, as JSON (its pydantic ``config``), or ``{}``."""
    config = getattr(model, "config", None)
    return config.model_dump(mode="json") if isinstance(config, BaseModel) else {}


def fit_recommender(training: TrainingSet, model_name: str, progress: Progress) -> Recommender:
    """Build and fit the named recommender on ``training``."""
    n_interactions = sum(len(s) for s in training.data.sequences)
    people = len(training.profile_ids)
    progress(f"fitting {model_name} on {n_interactions} interactions of {people} profiles")
    model = build_model(model_name)
    model.fit(training.data)
    return model


def train_recommender(
    engine: sa.Engine,
    catalog: Catalog,
    policy: ConsentPolicy,
    model_name: str,
    progress: Progress,
) -> tuple[RecommenderArtifact, dict[str, Any]]:
    """Train the named recommender on the events of the store that allow personalization.

    The stats record what the model registry shows for the version: the data window and its
    fingerprint, the model's parameters, the fit time and the pipeline's own validation.
    """
    started = time.perf_counter()
    progress("reading consented interactions from the event store")
    training = build_training_set(engine, catalog, policy)
    model = fit_recommender(training, model_name, progress)
    progress("fitting the complementary model (EASE)")
    complements, complements_note = fit_complements(training.data)
    progress("fitting the similar-items ranker")
    similar, similar_note = fit_similar(training.data)
    assert training.data.content is not None  # build_training_set always reads the catalog
    content = ContentNeighbours.fit(item_documents(training.data.content))
    stats = {
        "model": model_name,
        "params": model_params(model),
        "profiles": len(training.profile_ids),
        "items": len(training.items),
        "interactions": sum(len(s) for s in training.data.sequences),
        "excluded_events_without_consent": training.excluded_events,
        "data_window": {"start_ms": training.window[0], "end_ms": training.window[1]},
        "data_fingerprint": training.fingerprint,
        "code_version": __version__,
        "complements": complements_note,
        "similar": similar_note,
        "fit_seconds": round(time.perf_counter() - started, 2),
    }
    report = fit_report(model)
    if report is not None:
        stats["fit_report"] = report
    artifact = RecommenderArtifact(
        model=model,
        session_model=session_generator(model),
        items=training.items,
        popular=popularity(training, catalog),
        trained_at=now_ms(),
        stats=stats,
        profile_ids=tuple(training.profile_ids),
        complements=complements,
        content=content,
        similar=similar,
    )
    return artifact, stats


def precompute(
    artifact: RecommenderArtifact,
    histories: dict[str, list[str]],
    n: int = 100,
    batch: int = 256,
) -> dict[str, Ranked]:
    """Ranked lists for every non-empty profile history with the full model (batched)."""
    lists: dict[str, Ranked] = {}
    ids = sorted(p for p, h in histories.items() if h)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        encoded = [artifact.items.encode(histories[p]) for p in chunk]
        scores = artifact.model.score(encoded)
        for profile, history, row in zip(chunk, encoded, scores, strict=True):
            items, values = top_n(row, n, history)
            lists[profile] = (
                [artifact.items.ids[int(i)] for i in items],
                [float(v) for v in values],
            )
    return lists
