"""Experiment results on hand-built event logs: known counts give known per-variant numbers, the
SRM check flags a skewed split, CUPED removes variance when the pre-period predicts the metric."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from matplotlib.image import imread
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest
from tests.kpis.helpers import HOUR, T0, Log
from typer.testing import CliRunner

from shopwise import store
from shopwise.cli import app
from shopwise.errors import InvalidInput
from shopwise.experiments import (
    ExperimentResults,
    Experiments,
    ExperimentSpec,
    ExperimentUpdate,
    Variant,
    experiment_results,
    results_of,
    write_report,
)
from shopwise.privacy import ConsentPolicy
from shopwise.profiles import anon_key, profile_id_for
from shopwise.runtime import Runtime
from shopwise.settings import Settings

DAY = 24 * HOUR
END = T0 + 3 * DAY


def _unit(
    log: Log,
    shopper: str,
    at: int,
    variant: str,
    *,
    click: bool = False,
    spend: float = 0.0,
    experiment: str | None = "exp",
) -> None:
    """One answer of the experiment to ``shopper``; a click on it, and an order worth ``spend``."""
    props = {} if experiment is None else {"experiment": experiment, "variant": variant}
    answer = log.answer(shopper, at, ["a"], **props)
    if click or spend:
        log.click(shopper, at + 1000, answer, "a")
    if spend:
        log.order(shopper, at + 2000, f"o-{shopper}-{at}", {"a": spend / 2})  # quantity 2


def _read(engine: sa.Engine, **kw: object) -> ExperimentResults:
    args: dict[str, object] = {
        "primary": "click_rate",
        "guardrails": ("revenue_per_visitor",),
        "policy": ConsentPolicy(),
        **kw,
    }
    return experiment_results(engine, "exp", ("a", "b"), "a", T0, END, **args)  # type: ignore[arg-type]


def _known_log(log: Log) -> None:
    for i in range(20):
        _unit(log, f"a{i}", T0 + i * HOUR, "a", click=i < 4, spend=20.0 if i < 2 else 0.0)
        _unit(log, f"b{i}", T0 + i * HOUR, "b", click=i < 10, spend=20.0 if i < 5 else 0.0)
    _unit(log, "b0", T0 + DAY + 5, "b", click=True)  # a second answer, clicked again
    _unit(log, "x", T0 + 5, "b", click=True, experiment=None)  # outside the experiment
    _unit(log, "other", T0 + 5, "b", click=True, experiment="another")


def test_known_counts_give_known_numbers(engine: sa.Engine, log: Log) -> None:
    _known_log(log)
    log.flush(engine)
    found = _read(engine)
    a, b = found.arms
    assert (a.name, a.units, a.impressions, a.clicks, a.orders, a.revenue) == (
        "a",
        20,
        20,
        4,
        2,
        40.0,
    )
    assert (b.name, b.units, b.impressions, b.clicks, b.orders, b.revenue) == (
        "b",
        20,
        21,
        11,
        5,
        100.0,
    )
    assert b.metrics["click_rate"] == 0.5 and a.metrics["conversion_rate"] == 0.1
    assert b.metrics["ctr"] == 0.5  # b0: two answers, two clicks
    [variant] = found.variants
    by_metric = {c.metric: c for c in variant.comparisons}
    assert [c.metric for c in variant.comparisons][:2] == ["click_rate", "revenue_per_visitor"]
    clicks = by_metric["click_rate"]
    assert (clicks.control, clicks.treatment) == (0.2, 0.5)
    assert clicks.p_value == pytest.approx(proportions_ztest([10, 4], [20, 20])[1])
    revenue = by_metric["revenue_per_visitor"]
    a_rev, b_rev = [20.0] * 2 + [0.0] * 18, [20.0] * 5 + [0.0] * 15
    assert revenue.p_value == pytest.approx(stats.ttest_ind(b_rev, a_rev, equal_var=False).pvalue)
    assert revenue.p_value_adjusted == pytest.approx(revenue.p_value)  # a family of one
    assert clicks.p_value_adjusted is None  # the primary is read sequentially, not by Holm
    assert revenue.bootstrap_low is not None and revenue.bootstrap_high is not None
    assert revenue.bootstrap_low < revenue.difference < revenue.bootstrap_high
    assert 0.5 < (clicks.chance_to_beat_control or 0.0) <= 1.0
    assert found.srm is not None and not found.srm.mismatch
    assert variant.sequential is not None and variant.sequential.metric == "click_rate"
    assert [look.day for look in variant.sequential.looks] == [0, 1, 2]
    assert found.crossovers == 0
    assert all(c.cuped is None for c in variant.comparisons)  # no unit has a pre-period
    [guard] = variant.guardrail_sequentials  # the guardrail is read sequentially too
    assert guard.metric == "revenue_per_visitor" and len(guard.looks) == 3
    assert guard.looks[-1].estimate == pytest.approx(revenue.difference)
    assert guard.p_value_adjusted == guard.p_value  # a family of one
    json_ready = found.to_dict()
    assert json_ready["variants"][0]["sequential"]["looks"][-1]["units_treatment"] == 20


def test_shoppers_who_refused_analytics_are_not_units(engine: sa.Engine, log: Log) -> None:
    _known_log(log)
    refused = profile_id_for(anon_key("a0"))
    with engine.begin() as conn:
        conn.execute(
            store.profiles.insert().values(
                profile_id=refused,
                state={"consent": {"analytics": [False, T0, "m-c"]}},
                merged_into=None,
                updated_at=T0,
            )
        )
    log.flush(engine)
    a, _b = _read(engine).arms
    assert (a.units, a.clicks, a.revenue) == (19, 3, 20.0)


def test_a_skewed_split_is_flagged_and_voids_the_decision(engine: sa.Engine, log: Log) -> None:
    for i in range(60):
        _unit(log, f"u{i}", T0 + i * 1000, "a" if i < 45 else "b", click=i % 3 == 0)
    log.flush(engine)
    found = _read(engine)
    assert found.srm is not None and found.srm.mismatch and found.srm.p_value < 0.001
    assert found.srm.observed == {"a": 45, "b": 15}
    assert found.decision == "invalid: sample ratio mismatch"
    assert found.variants[0].decision == found.decision
    planned = _read(engine, weights=(0.75, 0.25))  # the same split, planned: nothing wrong
    assert planned.srm is not None and not planned.srm.mismatch


def test_cuped_removes_variance_the_pre_period_predicts(engine: sa.Engine, log: Log) -> None:
    rng = np.random.default_rng(7)
    for i in range(60):
        variant = "a" if i % 2 else "b"
        level = float(rng.integers(1, 20)) * 10.0
        _unit(log, f"u{i}", T0 - 2 * DAY + i * 1000, variant, spend=level, experiment=None)
        noise = float(rng.integers(0, 3)) * 2.0
        _unit(log, f"u{i}", T0 + i * 1000, variant, spend=level + noise)
    log.flush(engine)
    found = _read(engine, primary="revenue_per_visitor", guardrails=())
    revenue = found.variants[0].comparisons[0]
    assert revenue.metric == "revenue_per_visitor" and revenue.cuped is not None
    assert revenue.cuped.variance_reduction > 0.9
    assert revenue.ci_low is not None and revenue.ci_high is not None
    assert revenue.cuped.ci_high - revenue.cuped.ci_low < (revenue.ci_high - revenue.ci_low) / 2


def test_cuped_uses_pre_period_behaviour_without_served_answers(
    engine: sa.Engine, log: Log
) -> None:
    """Issue 24: a shop whose history holds no served answers still gets CUPED, from what the
    units did before the start (their product views and orders), which predicts their spend."""
    rng = np.random.default_rng(11)
    for i in range(80):
        shopper, variant = f"u{i}", "a" if i % 2 else "b"
        views = int(rng.integers(0, 15))
        for n in range(views):
            log.event("product_viewed", shopper, T0 - 3 * DAY + i * 1000 + n, {"product_id": "p"})
        if views > 10:
            log.order(shopper, T0 - 2 * DAY + i * 1000, f"pre-{shopper}", {"p": 15.0})
        noise = float(rng.integers(0, 3)) * 2.0
        _unit(log, shopper, T0 + i * 1000, variant, spend=10.0 * views + noise)
        log.event("product_viewed", shopper, T0 + i * 1000 + 5, {"product_id": "p"})  # after
        if i % 3 == 0:  # an answer not clicked, so no arm's ctr is constant
            log.answer(shopper, T0 + i * 1000 + 9, ["a"], experiment="exp", variant=variant)
    log.flush(engine)
    found = _read(engine, primary="revenue_per_visitor", guardrails=())
    revenue = found.variants[0].comparisons[0]
    assert revenue.metric == "revenue_per_visitor" and revenue.cuped is not None
    assert "same_metric" not in revenue.cuped.covariates  # no unit was served a pre-period answer
    assert {"pre_views", "pre_orders", "pre_revenue"} <= set(revenue.cuped.covariates)
    assert revenue.cuped.variance_reduction > 0.9
    assert revenue.ci_low is not None and revenue.ci_high is not None
    assert revenue.cuped.ci_high - revenue.cuped.ci_low < (revenue.ci_high - revenue.ci_low) / 2
    json_ready = found.to_dict()["variants"][0]["comparisons"][0]["cuped"]
    assert json_ready["covariates"] == revenue.cuped.covariates


def test_an_arm_too_small_is_reported_not_tested(engine: sa.Engine, log: Log) -> None:
    for i in range(12):
        _unit(log, f"u{i}", T0 + i * 1000, "a" if i < 9 else "b", click=i % 2 == 0)
    log.flush(engine)
    found = _read(engine)
    clicks = found.variants[0].comparisons[0]
    assert clicks.p_value is None and clicks.error is not None and "too few" in clicks.error
    assert found.variants[0].sequential is None
    assert found.variants[0].decision == "not enough data"


def test_a_shorter_look_interval_gives_more_looks(engine: sa.Engine, log: Log) -> None:
    """A compressed run (minutes, not days) is read at the interval asked for: the same answers
    give one look per interval that has one, and the last look is the whole experiment."""
    _known_log(log)
    log.flush(engine)
    daily = _read(engine).variants[0].sequential
    hourly = _read(engine, look_ms=HOUR).variants[0].sequential
    assert daily is not None and hourly is not None
    assert len(daily.looks) == 3 and len(hourly.looks) > 3 * len(daily.looks)
    assert [look.day for look in hourly.looks] == sorted({look.day for look in hourly.looks})
    first, last = hourly.looks[0], hourly.looks[-1]
    at = datetime.fromtimestamp((T0 + (first.day + 1) * HOUR) / 1000, UTC)
    assert first.at == at.isoformat().replace("+00:00", "Z")
    assert last.estimate == pytest.approx(daily.looks[-1].estimate)
    assert last.units_treatment == daily.looks[-1].units_treatment == 20


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"primary": "happiness"}, "primary"),
        ({"guardrails": ("ctr", "nope")}, "guardrails"),
        ({"weights": (1.0,)}, "weights"),
        ({"look_ms": 0}, "look_ms"),
    ],
)
def test_bad_arguments_name_their_field(
    engine: sa.Engine, change: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _read(engine, **change)
    assert refused.value.details[0]["field"] == field


def test_the_report_files_are_written_and_the_plot_is_an_image(
    engine: sa.Engine, log: Log, tmp_path: Path
) -> None:
    _known_log(log)
    log.flush(engine)
    found = _read(engine)
    paths = write_report(found, tmp_path / "out")
    assert [p.name for p in paths] == ["report.md", "report.json", "report.png", "report.html"]
    markdown, as_json, png, page = paths
    assert markdown.read_text().startswith("# Experiment `exp`")
    assert f"**Decision: {found.decision}**" in markdown.read_text()
    assert '"primary": "click_rate"' in as_json.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _channels = imread(png).shape
    assert (width, height) == (800, 450)
    assert "data:image/png;base64," in page.read_text()


def test_a_weight_change_while_running_skips_the_split_check(engine: sa.Engine, log: Log) -> None:
    service = Experiments(engine)
    service.create(ExperimentSpec(id="exp", variants=(Variant(name="a"), Variant(name="b"))))
    started = service.start("exp").started_at
    assert started is not None
    for i in range(60):  # 45/15: a mismatch for 50/50 weights
        _unit(log, f"w{i}", started + 1 + i, "a" if i < 45 else "b", click=i % 3 == 0)
    log.flush(engine)
    now = started + 10_000

    def read() -> ExperimentResults:
        return results_of(engine, service.get("exp"), policy=ConsentPolicy(), now_ms=now)

    first = read()
    assert first.srm is not None and first.srm.mismatch
    service.update("exp", ExperimentUpdate(weights={"a": 3.0}))
    after = read()
    assert after.srm is None and after.decision != first.decision


def test_the_route_answers_the_results(
    client: TestClient, secret_auth: dict[str, str], write_auth: dict[str, str], log: Log
) -> None:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    spec = ExperimentSpec(id="exp", variants=(Variant(name="a"), Variant(name="b")))
    runtime.experiments.create(spec)
    assert client.get("/v1/experiments/exp/results", headers=secret_auth).status_code == 409
    started = runtime.experiments.start("exp").started_at
    assert started is not None
    for i in range(24):
        _unit(log, f"s{i}", started + 1 + i, "a" if i % 2 else "b", click=i % 3 == 0)
    log.flush(runtime.engine)
    time.sleep(0.05)  # the answers lie before now
    got = client.get("/v1/experiments/exp/results", headers=secret_auth)
    assert got.status_code == 200
    body = got.json()
    assert [(a["name"], a["units"]) for a in body["arms"]] == [("a", 12), ("b", 12)]
    assert body["primary"] == "ctr" and body["srm"]["mismatch"] is False
    assert body["variants"][0]["variant"] == "b"
    assert client.get("/v1/experiments/nope/results", headers=secret_auth).status_code == 404
    assert client.get("/v1/experiments/exp/results", headers=write_auth).status_code == 403


def test_the_command_writes_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log: Log
) -> None:
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    engine = store.create_engine(Settings())
    store.upgrade(engine)
    service = Experiments(engine)
    service.create(ExperimentSpec(id="exp", variants=(Variant(name="a"), Variant(name="b"))))
    started = service.start("exp").started_at
    assert started is not None
    for i in range(24):
        _unit(log, f"s{i}", started + 1 + i, "a" if i % 2 else "b", click=i % 3 == 0)
    log.flush(engine)
    time.sleep(0.05)
    runner = CliRunner()
    done = runner.invoke(app, ["experiments", "report", "exp", "--out", str(tmp_path / "r")])
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        "report.html",
        "report.json",
        "report.md",
        "report.png",
    ]
    unknown = runner.invoke(app, ["experiments", "report", "nope"])
    assert unknown.exit_code == 2 and len(unknown.output.strip().splitlines()) == 1
