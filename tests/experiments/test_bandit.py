"""The Thompson sampler: it concentrates on the best arm, never starves the others below the
exploration share, is deterministic with a seed, and learns from the stored answers and clicks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import sqlalchemy as sa
from tests.kpis.helpers import HOUR, T0, Log

from shopwise.errors import InvalidInput
from shopwise.experiments import ArmCounts, Experiment, ThompsonSampler, Variant, thompson_choice
from shopwise.privacy import ConsentPolicy

ARMS = ("a", "b", "c", "d")
BANDIT = Experiment(
    id="banner",
    kind="bandit",
    variants=tuple(Variant(name=arm) for arm in ARMS),
    status="running",
    started_at=T0,
)


def _shares(counts: list[ArmCounts], exploration: float, seed: int, n: int) -> list[float]:
    rng = np.random.default_rng(seed)
    drawn = Counter(thompson_choice(counts, exploration, rng) for _ in range(n))
    return [drawn[i] / n for i in range(len(counts))]


def test_draws_concentrate_on_the_best_arm_and_keep_the_exploration_floor() -> None:
    counts = [ArmCounts(1000, 20), ArmCounts(1000, 25), ArmCounts(1000, 80), ArmCounts(1000, 30)]
    exploration = 0.2
    shares = _shares(counts, exploration, seed=3, n=20_000)
    floor = exploration / len(counts)
    assert shares[2] > 1.0 - exploration
    for i in (0, 1, 3):
        assert shares[i] >= 0.9 * floor  # the uniform share, less sampling noise
    greedy = _shares(counts, 0.0, seed=3, n=5000)
    assert greedy[2] > 0.99  # with no exploration the clear winner takes nearly all


def test_without_data_the_arms_are_drawn_evenly() -> None:
    shares = _shares([ArmCounts()] * 4, 0.1, seed=1, n=8000)
    assert all(abs(share - 0.25) < 0.03 for share in shares)


def test_the_same_seed_draws_the_same_arms() -> None:
    counts = [ArmCounts(50, 5), ArmCounts(50, 7)]
    first = [thompson_choice(counts, 0.1, rng) for rng in [np.random.default_rng(9)] for _ in "x"]
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    a = [thompson_choice(counts, 0.1, rng_a) for _ in range(200)]
    b = [thompson_choice(counts, 0.1, rng_b) for _ in range(200)]
    assert a == b and a[:1] == first and len(set(a)) == 2


def test_bad_settings_are_refused(engine: sa.Engine) -> None:
    with pytest.raises(InvalidInput):
        ThompsonSampler(engine, ConsentPolicy(), exploration=1.5)
    with pytest.raises(InvalidInput):
        thompson_choice([], 0.1, np.random.default_rng(0))


def test_the_sampler_learns_from_stored_answers_and_clicks(engine: sa.Engine) -> None:
    log = Log()
    rates = {"a": 0.05, "b": 0.1, "c": 0.6, "d": 0.1}
    rng = np.random.default_rng(4)
    for n in range(400):
        arm = ARMS[n % 4]
        at = T0 + n * 1000
        answer = log.answer(f"s{n}", at, ["x"], experiment="banner", variant=arm)
        if rng.random() < rates[arm]:
            kind = "promotion_clicked" if n % 2 else "recommendation_clicked"
            log.click(f"s{n}", at + 10, answer, "x", type_=kind)
    log.answer("s-other", T0 + 5, ["x"], experiment="another", variant="a")
    log.answer("s-late", T0 + 2 * HOUR, ["x"], experiment="banner", variant="a")
    log.flush(engine)
    sampler = ThompsonSampler(engine, ConsentPolicy(), exploration=0.1, seed=5)
    counts = sampler.refresh(BANDIT)
    assert sum(c.shown for c in counts.values()) == 401
    assert counts["a"].shown == 101 and counts["c"].clicked > counts["a"].clicked
    drawn = Counter(sampler(BANDIT) for _ in range(2000))
    assert drawn.most_common(1)[0][0] == "c"
    assert min(drawn.values()) >= 0.9 * 2000 * 0.1 / 4
    again = ThompsonSampler(engine, ConsentPolicy(), exploration=0.1, seed=5)
    again.refresh(BANDIT)
    replay = [again(BANDIT) for _ in range(50)]
    fresh = ThompsonSampler(engine, ConsentPolicy(), exploration=0.1, seed=5)
    fresh.refresh(BANDIT)
    assert [fresh(BANDIT) for _ in range(50)] == replay


def test_a_banner_bandit_is_rewarded_only_by_banner_clicks(engine: sa.Engine) -> None:
    log = Log()
    for n in range(40):
        arm = ("a", "b")[n % 2]
        at = T0 + n * 1000
        answer = log.answer(f"s{n}", at, ["x"], experiment="banner", variant=arm)
        # arm a's answers get product clicks, arm b's get banner clicks
        kind = "recommendation_clicked" if arm == "a" else "promotion_clicked"
        log.click(f"s{n}", at + 10, answer, "x", type_=kind)
    log.flush(engine)
    banners = Experiment(
        id="banner",
        kind="bandit",
        variants=(Variant(name="a", banner="sale"), Variant(name="b", banner="new")),
        status="running",
        started_at=T0,
    )
    counts = ThompsonSampler(engine, ConsentPolicy(), seed=1).refresh(banners)
    assert counts == {"a": ArmCounts(20, 0), "b": ArmCounts(20, 20)}
    products = banners.model_copy(update={"variants": (Variant(name="a"), Variant(name="b"))})
    every_click = ThompsonSampler(engine, ConsentPolicy(), seed=1).refresh(products)
    assert every_click == {"a": ArmCounts(20, 20), "b": ArmCounts(20, 20)}


def test_clicks_count_only_within_the_attribution_window(engine: sa.Engine) -> None:
    log = Log()
    answer = log.answer("s1", T0, ["x"], experiment="banner", variant="a")
    log.click("s1", T0 + 2 * HOUR, answer, "x", type_="recommendation_clicked")
    log.flush(engine)
    narrow = ThompsonSampler(engine, ConsentPolicy(), window_hours=1).refresh(BANDIT)
    wide = ThompsonSampler(engine, ConsentPolicy(), window_hours=3).refresh(BANDIT)
    assert (narrow["a"].clicked, wide["a"].clicked) == (0, 1)
