"""What serving loads from a training run: the recommender artifact and precomputed lists.

Training (:mod:`shopwise.recommend.training`) makes these and the worker saves them in the model
registry; serving loads the champions and reads them on every request. Nothing here trains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shopwise.profiles import ProfileState
from shopwise.recommend.candidates import ItemIndex, Recommender


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


@dataclass
class Precomputed:
    """Each profile's ranked list from the full model, refreshed by the worker."""

    model_version: str
    computed_at: int
    lists: dict[str, tuple[list[str], list[float], list[list[str]]]]
    """profile id -> (product ids, scores, reason codes), best first."""


def profile_products(state: ProfileState) -> list[tuple[int, str]]:
    """The profile's recent (time ms, product id) pairs: viewed, carted and purchased."""
    return [(int(e[0]), str(e[2])) for e in state.viewed + state.carted + state.purchased]
