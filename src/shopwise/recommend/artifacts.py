"""What serving loads from a training run: the recommender artifact and the precomputed-list record.

Training (:mod:`shopwise.recommend.training`) makes these and the worker saves them in the model
registry; serving loads the champions and reads them on every request. Nothing here trains.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from shopwise.profiles import ProfileState
from shopwise.recommend.candidates import ItemIndex, KeepsUserRows, Recommender
from shopwise.recommend.related import ContentNeighbours, ItemNeighbours


@dataclass
class Popularity:
    """Fallback rankings: time-decayed popularity overall, per category name, and trending."""

    overall: list[tuple[str, float]] = field(default_factory=list)
    by_category: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    trending: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class RecommenderArtifact:
    """What serving needs from one training run.

    ``model`` is the full production recommender (the worker precomputes each shopper's ranked
    list with it); ``session_model`` is its fast candidate generator, scored at request time on the
    shopper's fresh session events.
    """

    model: Recommender
    session_model: Recommender
    items: ItemIndex
    popular: Popularity
    trained_at: int
    stats: dict[str, Any]
    profile_ids: tuple[str, ...] = ()
    """The canonical profile of each training row (the model's users, in order), so that
    erasing a person can remove their rows at once (:meth:`forget`). Empty in artifacts trained
    before it was kept."""
    complements: ItemNeighbours | None = None
    """The complementary model's neighbours of each item (EASE), which ``/complementary`` ranks
    with; ``None`` when the catalog was over EASE's item limit (the transition model answers),
    and in artifacts trained before it was kept. It keeps no row per user."""
    content: ContentNeighbours | None = None
    """The content featurizer fitted on the catalog, which ``/similar`` finds a product's
    content neighbours with (a product added since training included); ``None`` when no product
    had content, and in artifacts trained before it was kept. It keeps no shopper's data."""
    similar: ItemNeighbours | None = None
    """The learned similar-items ranker's neighbours of each item
    (:class:`~shopwise.recommend.related_ranker.RelatedRanker`), which ``/similar`` serves in
    their order; ``None`` when it could not be trained (the stats say why: the transition
    generator answers), and in artifacts trained before it was kept. It keeps no row per user."""

    def forget(self, profiles: Collection[str]) -> int:
        """Remove the rows of ``profiles`` from the models that keep a row per user; returns how
        many rows were removed."""
        rows = [row for row, profile in enumerate(self.profile_ids) if profile in profiles]
        if rows:
            for model in {id(m): m for m in (self.model, self.session_model)}.values():
                if isinstance(model, KeepsUserRows):
                    model.forget(rows)
            self.profile_ids = tuple("" if p in profiles else p for p in self.profile_ids)
        return len(rows)


@dataclass
class Precomputed:
    """One refresh of the shoppers' precomputed lists: which recommender version ranked them and
    when. The lists themselves are in the store, one row per shopper
    (:class:`~shopwise.recommend.lists.CandidateLists`); this record holds nothing personal."""

    model_version: str
    computed_at: int
    model_name: str = ""
    """The full model's name, which each listed product's reason names
    (``precomputed:<name>``)."""


def profile_products(state: ProfileState) -> list[tuple[int, str]]:
    """The profile's recent (time ms, product id) pairs: viewed, carted and purchased."""
    return [(int(e[0]), str(e[2])) for e in state.viewed + state.carted + state.purchased]
