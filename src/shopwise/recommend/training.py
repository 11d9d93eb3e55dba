"""Recommender training from the event store: the training set, the fit, the precomputed lists.

Only events whose shopper allowed personalization feed training (read through
:class:`shopwise.privacy.ConsentedEvents`). Each product event becomes an interaction weighted by
its type (view < cart < purchase, :data:`shopwise.schema.ITEM_EVENT_WEIGHTS`), in the canonical
profile's time order. What a run produces for serving is in :mod:`shopwise.recommend.artifacts`.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from shopwise.catalog import Catalog
from shopwise.errors import NotEnoughData
from shopwise.logs import Progress
from shopwise.privacy import ConsentedEvent, ConsentedEvents, ConsentPolicy
from shopwise.recommend.artifacts import Popularity, Precomputed, RecommenderArtifact
from shopwise.recommend.candidates import (
    InteractionData,
    ItemContent,
    ItemIndex,
    Recommender,
    top_n,
)
from shopwise.recommend.candidates.content import item_documents
from shopwise.recommend.candidates.linear import EASEConfig, EASERecommender
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
    """Interactions grouped by profile, with the item index and item content."""

    data: InteractionData
    items: ItemIndex
    profile_ids: list[str]
    excluded_events: int


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


def build_training_set(engine: sa.Engine, catalog: Catalog, policy: ConsentPolicy) -> TrainingSet:
    """Every consented interaction, as sequences per profile over catalog + seen items."""
    per_profile: dict[str, list[Interaction]] = defaultdict(list)
    interactions, excluded = consented_interactions(engine, policy)
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
    return TrainingSet(data, items, profile_ids, excluded)


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


def fit_complements(
    data: InteractionData, config: EASEConfig | None = None
) -> tuple[ItemNeighbours | None, str]:
    """The complementary model (EASE, the item-to-item benchmark's winner on basket completion):
    each item's best :data:`NEIGHBOURS`, or ``None`` when the catalog is over EASE's item limit
    (its weights are a dense item x item matrix), with what was done in words.
    """
    config = config or EASEConfig()
    if data.n_items > config.max_items:
        reason = (
            f"skipped: {data.n_items} items is over EASE's max_items {config.max_items}; "
            "/complementary uses the transition model"
        )
        log.warning("complementary model %s", reason)
        return None, reason
    model = EASERecommender(config)
    model.fit(data)
    assert model.state is not None
    return ItemNeighbours.top(model.name, model.state.weights, NEIGHBOURS), model.name


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


def build_model(name: str) -> Recommender:
    """The production recommender by name: ``shopwise`` (candidates + ranker) or ``transition``."""
    if name == "shopwise":
        from shopwise.recommend.pipeline import ShopwiseRecommender

        return ShopwiseRecommender()
    if name == "transition":
        from shopwise.recommend.candidates.transition import TransitionConfig, TransitionRecommender

        return TransitionRecommender(TransitionConfig(session_gap_minutes=30.0))
    raise ValueError(f"unknown recommender {name!r}; use 'shopwise' or 'transition'")


def train_recommender(
    engine: sa.Engine,
    catalog: Catalog,
    policy: ConsentPolicy,
    model_name: str,
    progress: Progress,
) -> tuple[RecommenderArtifact, dict[str, Any]]:
    """Train the named recommender on the events of the store that allow personalization."""
    started = time.perf_counter()
    progress("reading consented interactions from the event store")
    training = build_training_set(engine, catalog, policy)
    n_interactions = sum(len(s) for s in training.data.sequences)
    if n_interactions == 0:
        raise NotEnoughData("no consented product interactions in the store to train on")
    people = len(training.profile_ids)
    progress(f"fitting {model_name} on {n_interactions} interactions of {people} profiles")
    model = build_model(model_name)
    model.fit(training.data)
    progress("fitting the complementary model (EASE)")
    complements, complements_note = fit_complements(training.data)
    progress("fitting the similar-items ranker")
    similar, similar_note = fit_similar(training.data)
    assert training.data.content is not None  # build_training_set always reads the catalog
    content = ContentNeighbours.fit(item_documents(training.data.content))
    stats = {
        "model": model_name,
        "profiles": len(training.profile_ids),
        "items": len(training.items),
        "interactions": n_interactions,
        "excluded_events_without_consent": training.excluded_events,
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
    model_version: str,
    histories: dict[str, list[str]],
    n: int = 100,
    batch: int = 256,
    progress: Progress | None = None,
) -> Precomputed:
    """Ranked lists for every profile history with the full model (batched)."""
    lists: dict[str, tuple[list[str], list[float], list[list[str]]]] = {}
    ids = sorted(p for p, h in histories.items() if h)
    name = artifact.model.name
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        encoded = [artifact.items.encode(histories[p]) for p in chunk]
        scores = artifact.model.score(encoded)
        for profile, history, row in zip(chunk, encoded, scores, strict=True):
            items, values = top_n(row, n, history)
            lists[profile] = (
                [artifact.items.ids[int(i)] for i in items],
                [float(v) for v in values],
                [[f"precomputed:{name}"]] * len(items),
            )
        if progress is not None:
            progress(f"precomputed {min(start + batch, len(ids))} of {len(ids)} profiles")
    return Precomputed(model_version, now_ms(), lists)
