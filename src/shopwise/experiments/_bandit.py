"""Multi-armed bandits for content blocks and banners: Thompson sampling with an exploration floor.

Each arm's click-through is a Beta posterior (a uniform prior updated with the answers it served
and the answers clicked). Per request, with probability ``exploration`` the arm is drawn
uniformly, so every arm keeps at least ``exploration / arms`` of the traffic however sure the
posterior is (a banner that starts badly is still seen, and a change in taste is still noticed);
otherwise each posterior is sampled once and the highest draw wins, which sends traffic to an arm
in proportion to the chance that it is the best.

:class:`ThompsonSampler` is the ``draw`` that :class:`~shopwise.experiments.ExperimentAssigner`
calls for an experiment of kind ``bandit``. Its posteriors come from the store: the arm's
exposures of the experiment, and the clicks carrying the recommendation id of one of them,
attributed and filtered for analytics consent by :func:`shopwise.kpis.read_unit_totals`: for a
banner bandit only banner clicks (``promotion_clicked``) count, since a click on the answer's
products says nothing about its banner; otherwise every click type of the KPIs. They are read
again in the background when older than ``refresh_seconds``; a request never waits for the store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import sqlalchemy as sa

from shopwise.errors import InvalidInput
from shopwise.experiments._model import Experiment
from shopwise.kpis import Exposure, read_unit_totals
from shopwise.privacy import ConsentPolicy
from shopwise.schema import EventType

log = logging.getLogger("shopwise.experiments")

EXPLORATION: Final = 0.1
"""The served sampler's share of uniformly drawn arms."""
REFRESH_SECONDS: Final = 30.0
"""Age at which the served sampler reads an experiment's posteriors again."""


@dataclass(frozen=True, slots=True)
class ArmCounts:
    """What one arm served and how many of those answers were clicked."""

    shown: int = 0
    clicked: int = 0


def thompson_choice(
    counts: Sequence[ArmCounts], exploration: float, rng: np.random.Generator
) -> int:
    """The index of the arm to serve (see the module docstring).

    Parameters
    ----------
    counts
        Each arm's answers and clicked answers.
    exploration
        Share of the draws made uniformly over the arms, in ``[0, 1]``.
    rng
        The random source.
    """
    if not counts:
        raise InvalidInput("arms: a bandit needs at least one arm")
    if rng.random() < exploration:
        return int(rng.integers(len(counts)))
    clicked = np.array([c.clicked for c in counts], dtype=np.float64)
    shown = np.array([c.shown for c in counts], dtype=np.float64)
    return int(np.argmax(rng.beta(1.0 + clicked, 1.0 + shown - clicked)))


def reward_clicks(experiment: Experiment) -> tuple[str, ...] | None:
    """The event types that reward an arm of ``experiment``: banner clicks for a bandit over
    banners, None (every click type of the KPIs) otherwise."""
    if any(variant.banner is not None for variant in experiment.variants):
        return (EventType.PROMOTION_CLICKED,)
    return None


class ThompsonSampler:
    """The bandit ``draw`` over the stored answers (see the module docstring).

    Parameters
    ----------
    engine, policy
        The store and the consent modes (only answers and clicks allowed for analytics count).
    exploration
        Share of requests given a uniformly drawn arm.
    refresh_seconds
        Age at which an experiment's posteriors are read again.
    window_hours
        The attribution window of clicks.
    seed
        Seed or generator of the draws.
    """

    def __init__(
        self,
        engine: sa.Engine,
        policy: ConsentPolicy,
        *,
        exploration: float = EXPLORATION,
        refresh_seconds: float = REFRESH_SECONDS,
        window_hours: int = 24,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        if not 0.0 <= exploration <= 1.0:
            raise InvalidInput(
                "exploration: must lie in 0..1",
                details=[{"field": "exploration", "message": "must lie in 0..1"}],
            )
        self._engine = engine
        self._policy = policy
        self._exploration = exploration
        self._refresh_seconds = refresh_seconds
        self._window_hours = window_hours
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[float, dict[str, ArmCounts]]] = {}
        self._refreshing: set[str] = set()

    def __call__(self, experiment: Experiment) -> str:
        """The arm (variant name) of one request to ``experiment``."""
        arms = [variant.name for variant in experiment.variants]
        read_at, known = self._counts.get(experiment.id, (-float("inf"), {}))
        if time.monotonic() - read_at > self._refresh_seconds:
            self._refresh_later(experiment)
        counts = [known.get(arm, ArmCounts()) for arm in arms]
        with self._lock:  # a Generator is not safe to share between threads
            return arms[thompson_choice(counts, self._exploration, self._rng)]

    def refresh(self, experiment: Experiment) -> dict[str, ArmCounts]:
        """Read ``experiment``'s answers and clicks from the store now; the new counts."""
        arms = {variant.name for variant in experiment.variants}

        def answer(exposure: Exposure) -> tuple[str, str] | None:
            if exposure.experiment != experiment.id or exposure.dims.variant not in arms:
                return None
            return exposure.dims.variant, exposure.recommendation_id

        start = experiment.started_at or 0
        end = experiment.stopped_at or int(time.time() * 1000) + 1
        found = read_unit_totals(
            self._engine,
            self._policy,
            start,
            end,
            answer,
            window_hours=self._window_hours,
            click_types=reward_clicks(experiment),
        )
        shown: dict[str, int] = dict.fromkeys(arms, 0)
        clicked: dict[str, int] = dict.fromkeys(arms, 0)
        for (arm, _answer), totals in found.items():
            shown[arm] += 1
            clicked[arm] += totals.clicks > 0
        counts = {arm: ArmCounts(shown[arm], clicked[arm]) for arm in arms}
        self._counts[experiment.id] = (time.monotonic(), counts)
        return counts

    def _refresh_later(self, experiment: Experiment) -> None:
        with self._lock:
            if experiment.id in self._refreshing:
                return
            self._refreshing.add(experiment.id)
        threading.Thread(
            target=self._refresh_logged, args=(experiment,), name="bandit-refresh", daemon=True
        ).start()

    def _refresh_logged(self, experiment: Experiment) -> None:
        try:
            self.refresh(experiment)
        except Exception:  # a background boundary: keep serving the last posteriors
            log.exception("bandit posteriors of %s not refreshed", experiment.id)
        finally:
            with self._lock:
                self._refreshing.discard(experiment.id)
