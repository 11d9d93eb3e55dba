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
again in the background when older than ``refresh_seconds``, or later when reading them was slow
(:data:`REFRESH_SHARE`); a request never waits for the store.

:func:`read_bandit` reads a bandit's results from the same counts: each arm's posterior of its
reward rate, its chance of being the best arm and the expected loss of choosing it
(:func:`shopwise.stats.bayes_arms`), and its share of the traffic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import sqlalchemy as sa

from shopwise.errors import InvalidInput
from shopwise.experiments._model import Experiment
from shopwise.kpis import Exposure, read_unit_totals
from shopwise.privacy import ConsentPolicy
from shopwise.schema import EventType
from shopwise.stats import bayes_arms

log = logging.getLogger("shopwise.experiments")

EXPLORATION: Final = 0.1
"""The served sampler's share of uniformly drawn arms."""
REFRESH_SECONDS: Final = 30.0
"""Age at which the served sampler reads an experiment's posteriors again."""
REFRESH_SHARE: Final = 0.05
"""The largest share of its time a process spends reading a bandit's posteriors: a read that
took ``t`` seconds is followed by the next one no sooner than ``t / REFRESH_SHARE`` later. The
read covers the bandit's answers since its start, so it takes longer as the bandit runs, and
without this bound a long-running bandit would read all the time in every API process."""
PRIOR: Final = (1.0, 1.0)
"""The Beta prior of every arm's reward rate (uniform): successes, failures."""
WINNER_CHANCE: Final = 0.95
"""The chance of being best at which a bandit's results call its leading arm the winner."""


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
    return int(np.argmax(rng.beta(PRIOR[0] + clicked, PRIOR[1] + shown - clicked)))


def arm_counts(
    engine: sa.Engine,
    policy: ConsentPolicy,
    experiment: Experiment,
    *,
    end_ms: int,
    window_hours: int = 24,
) -> dict[str, ArmCounts]:
    """Each arm's answers of ``experiment`` served from its start to ``end_ms``, and how many
    of them were clicked (by :func:`reward_clicks`), for consenting shoppers only.

    Parameters
    ----------
    engine, policy
        The store and the consent modes.
    experiment
        The bandit.
    end_ms
        The end of the answers read (the stop, or now).
    window_hours
        The attribution window of clicks.
    """
    arms = {variant.name for variant in experiment.variants}

    def answer(exposure: Exposure) -> tuple[str, str] | None:
        if exposure.experiment != experiment.id or exposure.dims.variant not in arms:
            return None
        return exposure.dims.variant, exposure.recommendation_id

    found = read_unit_totals(
        engine,
        policy,
        experiment.started_at or 0,
        end_ms,
        answer,
        window_hours=window_hours,
        click_types=reward_clicks(experiment),
    )
    shown: dict[str, int] = dict.fromkeys(arms, 0)
    clicked: dict[str, int] = dict.fromkeys(arms, 0)
    for (arm, _answer), totals in found.items():
        shown[arm] += 1
        clicked[arm] += totals.clicks > 0
    return {arm: ArmCounts(shown[arm], clicked[arm]) for arm in arms}


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
        Age at which an experiment's posteriors are read again (longer when a read is slow:
        :data:`REFRESH_SHARE`).
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
        """Experiment id -> when its counts are due to be read again (monotonic), the counts."""
        self._refreshing: set[str] = set()

    def __call__(self, experiment: Experiment) -> str:
        """The arm (variant name) of one request to ``experiment``."""
        arms = [variant.name for variant in experiment.variants]
        due_at, known = self._counts.get(experiment.id, (-float("inf"), {}))
        if time.monotonic() >= due_at:
            self._refresh_later(experiment)
        counts = [known.get(arm, ArmCounts()) for arm in arms]
        with self._lock:  # a Generator is not safe to share between threads
            return arms[thompson_choice(counts, self._exploration, self._rng)]

    def refresh(self, experiment: Experiment) -> dict[str, ArmCounts]:
        """Read ``experiment``'s answers and clicks from the store now; the new counts."""
        end = experiment.stopped_at or int(time.time() * 1000) + 1
        started = time.monotonic()
        counts = arm_counts(
            self._engine, self._policy, experiment, end_ms=end, window_hours=self._window_hours
        )
        took = time.monotonic() - started
        wait = max(self._refresh_seconds, took / REFRESH_SHARE)
        self._counts[experiment.id] = (started + wait, counts)
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


@dataclass(frozen=True, slots=True)
class BanditArm:
    """One arm's read: its answers, the rewarded ones, its share of the bandit's answers, and
    the ``Beta(1 + rewarded, 1 + shown - rewarded)`` posterior of its reward rate."""

    name: str
    shown: int
    rewarded: int
    share: float | None
    """The arm's share of the bandit's answers (``None`` before any)."""
    mean: float
    ci_low: float
    ci_high: float
    chance_best: float
    """Posterior probability that the arm's reward rate is the highest."""
    expected_loss: float
    """Posterior mean of the best rate minus this arm's: what choosing it costs."""

    @property
    def posterior(self) -> tuple[float, float]:
        """The parameters of the arm's Beta posterior."""
        return PRIOR[0] + self.rewarded, PRIOR[1] + self.shown - self.rewarded


@dataclass(frozen=True, slots=True)
class BanditResults:
    """A bandit read by its posteriors (a split that follows the learning voids the
    fixed-horizon and sequential tests); ``reward`` names what rewards an arm."""

    reward: str
    credibility: float
    threshold: float
    """The chance of being best at which the leader is called the winner."""
    leader: str | None
    winner: str | None
    """The leader, once its chance of being best passes ``threshold``."""
    decision: str
    arms: list[BanditArm]


def bandit_results(
    counts: Mapping[str, ArmCounts],
    *,
    reward: str,
    seed: int | np.random.Generator,
    threshold: float = WINNER_CHANCE,
    credibility: float = 0.95,
) -> BanditResults:
    """The posteriors of a bandit's arms from their counts (see :class:`BanditResults`).

    Parameters
    ----------
    counts
        Each arm's answers and rewarded answers, in report order.
    reward
        What rewards an arm, in words (for the report).
    seed
        Seed or generator of the Monte Carlo draws (chance of being best, expected loss).
    threshold
        The chance of being best that makes the leader the winner.
    credibility
        Mass of each arm's credible interval.
    """
    names = list(counts)
    shown = [counts[name].shown for name in names]
    rewarded = [counts[name].clicked for name in names]
    posteriors = bayes_arms(
        rewarded,
        shown,
        seed=seed,
        prior_successes=PRIOR[0],
        prior_failures=PRIOR[1],
        credibility=credibility,
    )
    total = sum(shown)
    arms = [
        BanditArm(
            name=name,
            shown=n,
            rewarded=won,
            share=n / total if total else None,
            mean=post.mean,
            ci_low=post.ci_low,
            ci_high=post.ci_high,
            chance_best=post.chance_best,
            expected_loss=post.expected_loss,
        )
        for name, n, won, post in zip(names, shown, rewarded, posteriors, strict=True)
    ]
    leader = max(arms, key=lambda arm: arm.chance_best) if total else None
    winner = leader if leader is not None and leader.chance_best > threshold else None
    return BanditResults(
        reward=reward,
        credibility=credibility,
        threshold=threshold,
        leader=None if leader is None else leader.name,
        winner=None if winner is None else winner.name,
        decision=_bandit_decision(leader, threshold),
        arms=arms,
    )


def read_bandit(
    engine: sa.Engine,
    policy: ConsentPolicy,
    experiment: Experiment,
    *,
    end_ms: int,
    window_hours: int = 24,
    seed: int | np.random.Generator = 0,
) -> BanditResults:
    """:func:`bandit_results` of a stored bandit's answers up to ``end_ms``, counted as the
    served sampler counts them (:func:`arm_counts`)."""
    found = arm_counts(engine, policy, experiment, end_ms=end_ms, window_hours=window_hours)
    ordered = {variant.name: found[variant.name] for variant in experiment.variants}
    clicks = reward_clicks(experiment)
    reward = (
        "an answer clicked"
        if clicks is None
        else f"an answer's banner clicked ({', '.join(str(c) for c in clicks)})"
    )
    return bandit_results(ordered, reward=reward, seed=seed)


def _bandit_decision(leader: BanditArm | None, threshold: float) -> str:
    if leader is None:
        return "not enough data"
    chance = f"{leader.name} leads with a {leader.chance_best:.3f} chance of being best"
    if leader.chance_best > threshold:
        return f"{chance}, past {threshold:g}: {leader.name} wins"
    return f"{chance}, short of {threshold:g}: keep learning"
