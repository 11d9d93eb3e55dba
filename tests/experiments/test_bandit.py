"""The Thompson sampler: it concentrates on the best arm, never starves the others below the
exploration share, is deterministic with a seed, and learns from the stored answers and clicks.
A bandit's results are its arms' posteriors (counted as the sampler counts), not A/B tests."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from matplotlib.image import imread
from scipy import stats
from tests.kpis.helpers import HOUR, T0, Log
from typer.testing import CliRunner

from shopwise import store
from shopwise.cli import app
from shopwise.errors import InvalidInput
from shopwise.experiments import (
    ArmCounts,
    Experiment,
    Experiments,
    ExperimentSpec,
    ThompsonSampler,
    Variant,
    _bandit,
    bandit_results,
    report_markdown,
    results_of,
    thompson_choice,
    write_report,
)
from shopwise.privacy import ConsentPolicy
from shopwise.runtime import Runtime
from shopwise.settings import Settings

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


def test_a_slow_read_of_the_posteriors_spaces_out_the_next(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[float] = []

    def slow_counts(*_args: object, **_options: object) -> dict[str, ArmCounts]:
        reads.append(time.monotonic())
        time.sleep(0.05)
        return {}

    monkeypatch.setattr(_bandit, "arm_counts", slow_counts)
    sampler = ThompsonSampler(engine, ConsentPolicy(), refresh_seconds=0.0, seed=1)
    sampler.refresh(BANDIT)
    until = time.monotonic() + 0.5
    while time.monotonic() < until:  # every draw would read again with no bound
        sampler(BANDIT)
        time.sleep(0.005)
    assert len(reads) == 1  # a read of 0.05 s makes the next due a second later


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


def _bandit_log(
    log: Log, rates: dict[str, float], n: int, start: int, step: int = 1000, seed: int = 4
) -> None:
    """``n`` answers of the bandit ``banner``, ``step`` ms apart, spread over its arms, each
    clicked at its arm's rate."""
    rng = np.random.default_rng(seed)
    arms = list(rates)
    for k in range(n):
        arm = arms[k % len(arms)]
        at = start + k * step
        answer = log.answer(f"s{k}", at, ["x"], experiment="banner", variant=arm)
        if rng.random() < rates[arm]:
            log.click(f"s{k}", at + 1, answer, "x")


def test_bandit_results_are_posteriors_not_tests(engine: sa.Engine, log: Log) -> None:
    _bandit_log(log, {"a": 0.05, "b": 0.1, "c": 0.6, "d": 0.1}, 400, T0)
    log.flush(engine)
    stopped = BANDIT.model_copy(update={"stopped_at": T0 + HOUR})
    found = results_of(engine, stopped, policy=ConsentPolicy(), now_ms=T0 + 2 * HOUR, seed=3)
    assert found.variants == [] and found.srm is None  # no fixed-horizon, Holm or mSPRT read
    bandit = found.bandit
    assert bandit is not None and [arm.name for arm in bandit.arms] == list(ARMS)
    counts = ThompsonSampler(engine, ConsentPolicy()).refresh(stopped)
    for arm in bandit.arms:
        assert (arm.shown, arm.rewarded) == (counts[arm.name].shown, counts[arm.name].clicked)
        a, b = 1 + arm.rewarded, 1 + arm.shown - arm.rewarded
        assert arm.mean == pytest.approx(a / (a + b))
        assert (arm.ci_low, arm.ci_high) == pytest.approx(stats.beta.interval(0.95, a, b))
        assert arm.share == pytest.approx(arm.shown / 400)
    assert sum(arm.chance_best for arm in bandit.arms) == pytest.approx(1.0)
    best = max(bandit.arms, key=lambda arm: arm.chance_best)
    assert best.name == bandit.leader == bandit.winner == "c" and best.chance_best > 0.95
    assert best.expected_loss == min(arm.expected_loss for arm in bandit.arms)
    assert found.decision == bandit.decision and bandit.decision.startswith("c leads")
    assert "wins" in bandit.decision
    again = results_of(engine, stopped, policy=ConsentPolicy(), now_ms=T0 + 2 * HOUR, seed=3)
    assert again == found  # the Monte Carlo is seeded
    assert found.to_dict()["bandit"]["arms"][2]["chance_best"] == best.chance_best


def test_a_close_race_keeps_learning_and_an_empty_bandit_waits() -> None:
    close = bandit_results(
        {"a": ArmCounts(200, 20), "b": ArmCounts(210, 23)}, reward="clicks", seed=1
    )
    assert close.leader == "b" and close.winner is None
    assert close.arms[1].chance_best < 0.95 and "keep learning" in close.decision
    empty = bandit_results({"a": ArmCounts(), "b": ArmCounts()}, reward="clicks", seed=1)
    assert empty.leader is None and empty.decision == "not enough data"
    assert [arm.share for arm in empty.arms] == [None, None]
    assert [arm.mean for arm in empty.arms] == [0.5, 0.5]


def test_a_banner_bandits_results_count_only_banner_clicks(engine: sa.Engine, log: Log) -> None:
    for n in range(40):
        arm = ("a", "b")[n % 2]
        answer = log.answer(f"s{n}", T0 + n * 1000, ["x"], experiment="banner", variant=arm)
        kind = "recommendation_clicked" if arm == "a" else "promotion_clicked"
        log.click(f"s{n}", T0 + n * 1000 + 10, answer, "x", type_=kind)
    log.flush(engine)
    banners = Experiment(
        id="banner",
        kind="bandit",
        variants=(Variant(name="a", banner="sale"), Variant(name="b", banner="new")),
        status="stopped",
        started_at=T0,
        stopped_at=T0 + HOUR,
    )
    bandit = results_of(engine, banners, policy=ConsentPolicy(), now_ms=T0 + HOUR).bandit
    assert bandit is not None and "promotion_clicked" in bandit.reward
    assert [(arm.shown, arm.rewarded) for arm in bandit.arms] == [(20, 0), (20, 20)]


def test_the_bandit_report_shows_the_posteriors(
    engine: sa.Engine, log: Log, tmp_path: Path
) -> None:
    _bandit_log(log, {"a": 0.05, "b": 0.1, "c": 0.6, "d": 0.1}, 200, T0)
    log.flush(engine)
    stopped = BANDIT.model_copy(update={"stopped_at": T0 + HOUR})
    found = results_of(engine, stopped, policy=ConsentPolicy(), now_ms=T0 + HOUR)
    markdown = report_markdown(found)
    assert f"**Decision: {found.decision}** (bandit: Thompson sampling" in markdown
    assert "| arm | shown | rewarded | share | reward rate | 95% interval |" in markdown
    assert "sequential" not in markdown.lower() and "p (Holm)" not in markdown
    _md, as_json, png, page = write_report(found, tmp_path / "r")
    assert '"chance_best"' in as_json.read_text()
    height, width, _channels = imread(png).shape
    assert (width, height) == (800, 450)
    assert "posterior of each arm" in page.read_text()


def test_the_route_and_the_command_answer_a_bandit(
    client: TestClient, secret_auth: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    spec = ExperimentSpec(
        id="banner", kind="bandit", variants=(Variant(name="a"), Variant(name="b"))
    )
    runtime.experiments.create(spec)
    started = runtime.experiments.start("banner").started_at
    assert started is not None
    log = Log()
    _bandit_log(log, {"a": 0.1, "b": 0.5}, 40, started + 1, step=1)
    log.flush(runtime.engine)
    time.sleep(0.05)  # the answers lie before now
    got = client.get("/v1/experiments/banner/results", headers=secret_auth)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["variants"] == [] and body["srm"] is None
    assert [(arm["name"], arm["shown"]) for arm in body["bandit"]["arms"]] == [("a", 20), ("b", 20)]
    assert body["decision"] == body["bandit"]["decision"]
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    engine = store.create_engine(Settings())
    store.upgrade(engine)
    service = Experiments(engine)
    service.create(spec)
    begun = service.start("banner").started_at
    assert begun is not None
    _bandit_log(log, {"a": 0.1, "b": 0.5}, 40, begun + 1, step=1)
    log.flush(engine)
    time.sleep(0.05)
    done = CliRunner().invoke(
        app, ["experiments", "report", "banner", "--out", str(tmp_path / "r")]
    )
    assert done.exit_code == 0, done.output
    assert "chance of being best" in (tmp_path / "r" / "report.md").read_text()
    written = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [arm["shown"] for arm in written["bandit"]["arms"]] == [20, 20]
