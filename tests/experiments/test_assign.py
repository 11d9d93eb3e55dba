"""Assignment: deterministic, split by the weights, holdout first, sticky, by canonical profile."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from shopwise import store
from shopwise.experiments import (
    HOLDOUT,
    Experiment,
    ExperimentAssigner,
    Experiments,
    ExperimentSpec,
    ExperimentUpdate,
    bucket,
    hashed_variant,
    validated,
)
from shopwise.profiles import anon_key, profile_id_for

UNITS = 20_000
TOLERANCE = 0.015
"""Allowed distance of an observed share from its target over :data:`UNITS` units (more than
four standard errors of a share near one half)."""

GOLDEN = [0.409773, 0.468411, 0.364632]
"""Buckets of ``p_0``, ``p_1``, ``p_2`` salted ``home-model``: a change here would move every
shopper of every running experiment to another variant."""


def _spec(experiment_id: str = "home-model", **changes: Any) -> ExperimentSpec:
    spec: dict[str, Any] = {
        "id": experiment_id,
        "variants": [{"name": "control"}, {"name": "treatment"}],
    }
    return validated(ExperimentSpec, {**spec, **changes})


def _experiment(**changes: Any) -> Experiment:
    return Experiment.model_validate({**_spec(**changes).model_dump(), "status": "running"})


def _no_segments(_profile: str) -> tuple[str, ...]:
    return ()


def _no_draw(experiment: Experiment) -> str:
    raise AssertionError(f"{experiment.id} is not a bandit")


def _assigner(engine: sa.Engine, **options: Any) -> ExperimentAssigner:
    options.setdefault("segments", _no_segments)
    options.setdefault("draw", _no_draw)
    return ExperimentAssigner(engine, **options)


def _running(engine: sa.Engine, spec: ExperimentSpec) -> Experiments:
    service = Experiments(engine)
    service.create(spec)
    service.start(spec.id)
    return service


def _units(n: int = UNITS) -> list[str]:
    return [profile_id_for(anon_key(f"visitor-{i}")) for i in range(n)]


def test_the_bucket_is_a_fixed_function_of_salt_and_unit() -> None:
    assert bucket("home-model", "p_0") == bucket("home-model", "p_0")
    assert bucket("home-model", "p_0") != bucket("other-salt", "p_0")
    assert 0.0 <= bucket("s", "u") < 1.0
    assert [round(bucket("home-model", f"p_{i}"), 6) for i in range(3)] == GOLDEN


@pytest.mark.parametrize(
    ("weights", "holdout"), [((1.0, 1.0), 0.0), ((1.0, 3.0), 0.0), ((2.0, 1.0, 1.0), 0.1)]
)
def test_the_observed_split_follows_weights_and_holdout(
    weights: tuple[float, ...], holdout: float
) -> None:
    variants = [{"name": f"v{i}", "weight": w} for i, w in enumerate(weights)]
    experiment = _experiment(variants=variants, holdout=holdout)
    counts = Counter(hashed_variant(experiment, unit) for unit in _units())
    assert counts[HOLDOUT] / UNITS == pytest.approx(holdout, abs=TOLERANCE)
    for i, weight in enumerate(weights):
        target = (1 - holdout) * weight / sum(weights)
        assert counts[f"v{i}"] / UNITS == pytest.approx(target, abs=TOLERANCE)


def test_salts_split_independently() -> None:
    first, second = _experiment(salt="one"), _experiment(salt="two")
    pairs = Counter((hashed_variant(first, u), hashed_variant(second, u)) for u in _units())
    for pair in [("control", "control"), ("control", "treatment")]:
        assert pairs[pair] / UNITS == pytest.approx(0.25, abs=TOLERANCE)


def test_same_unit_same_variant_in_every_process(engine: sa.Engine) -> None:
    _running(engine, _spec(holdout=0.2))
    first, second = _assigner(engine), _assigner(engine)
    first.refresh()
    second.refresh()
    units = _units(500)
    answers = [first("home", unit) for unit in units]
    assert answers == [second("home", unit) for unit in units]
    assert answers == [first("home", unit) for unit in units]
    seen = {answer.variant for answer in answers if answer is not None}
    assert seen == {"control", "treatment", HOLDOUT}
    held = next(a for a in answers if a is not None and a.variant == HOLDOUT)
    assert held.popular and held.experiment == "home-model"


def test_a_weight_change_moves_nobody_already_assigned(engine: sa.Engine) -> None:
    service = _running(engine, _spec())
    assigner = _assigner(engine)
    service_changes = Experiments(engine, changed=assigner.refresh)
    assigner.refresh()
    before, after = _units(2000), _units(4000)[2000:]
    first = {unit: assigner("home", unit).variant for unit in before}  # type: ignore[union-attr]
    service_changes.update("home-model", ExperimentUpdate(weights={"treatment": 99}))
    assert {unit: assigner("home", unit).variant for unit in before} == first  # type: ignore[union-attr]
    newcomers = Counter(assigner("home", unit).variant for unit in after)  # type: ignore[union-attr]
    assert newcomers["treatment"] / len(after) > 0.95
    # written in the background and loaded back by a process started later
    assert assigner.flush() == len(before) + len(after)
    assert assigner.flush() == 0
    later = _assigner(engine)
    later.refresh()
    assert {unit: later("home", unit).variant for unit in before} == first  # type: ignore[union-attr]
    assert service.get("home-model").variants[1].weight == 99


def test_memory_holds_recent_units_and_those_a_weight_change_would_move(
    engine: sa.Engine,
) -> None:
    service = _running(engine, _spec())
    assigner = _assigner(engine, recent_units=100)
    assigner.refresh()
    units = _units(2000)
    first = {unit: assigner("home", unit).variant for unit in units}  # type: ignore[union-attr]
    assert assigner.flush() == len(units)
    assigner.refresh()
    older, recent = units[:-100], units[-100:]
    assert not any(assigner.holds([unit]) for unit in older)  # the hash answers for them
    assert all(assigner.holds([unit]) for unit in recent)
    Experiments(engine, changed=assigner.refresh).update(
        "home-model", ExperimentUpdate(weights={"treatment": 99})
    )
    changed = service.get("home-model")
    moved = {unit for unit in older if hashed_variant(changed, unit) != first[unit]}
    assert len(moved) > len(older) / 3
    assert {unit for unit in older if assigner.holds([unit])} == moved
    assert {unit: assigner("home", unit).variant for unit in units} == first  # type: ignore[union-attr]
    assert assigner.flush() == 0  # all stored already


def test_a_request_never_writes(engine: sa.Engine) -> None:
    _running(engine, _spec())
    assigner = _assigner(engine)
    assigner.refresh()
    for unit in _units(100):
        assigner("home", unit)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(store.experiment_assignments))
        assert stored.scalar_one() == 0
    assert assigner.flush() == 100


def test_the_stored_assignment_wins_over_another_processes_memory(engine: sa.Engine) -> None:
    service = _running(engine, _spec())
    one, two = _assigner(engine), _assigner(engine)
    one.refresh()
    two.refresh()
    unit = _units(1)[0]
    given = one("home", unit).variant  # type: ignore[union-attr]
    other = "treatment" if given == "control" else "control"
    one.flush()
    Experiments(engine, changed=two.refresh).update(
        "home-model", ExperimentUpdate(weights={other: 1e6})
    )
    assert two("home", unit).variant == given  # type: ignore[union-attr]
    assert service.get("home-model").status == "running"


def test_placements_audience_and_order_decide_which_experiment(engine: sa.Engine) -> None:
    _running(engine, _spec("cart-only", placements=["cart"]))
    _running(engine, _spec("vip-only", audience=["vip"]))
    _running(engine, _spec("everyone"))
    vip = _units(1)[0]
    asked: list[str] = []

    def segments(profile: str) -> tuple[str, ...]:
        asked.append(profile)
        return ("vip",) if profile == vip else ("new",)

    assigner = _assigner(engine, segments=segments)
    assigner.refresh()
    assert assigner("cart", vip).experiment == "cart-only"  # type: ignore[union-attr]
    assert asked == []  # no audience, no question
    assert assigner("home", vip).experiment == "vip-only"  # type: ignore[union-attr]
    assert assigner("home", _units(2)[1]).experiment == "everyone"  # type: ignore[union-attr]
    Experiments(engine, changed=assigner.refresh).stop("everyone")
    assert assigner("home", _units(2)[1]) is None


def test_nothing_runs_nothing_is_assigned(engine: sa.Engine) -> None:
    Experiments(engine).create(_spec())  # a draft
    assigner = _assigner(engine)
    assigner.refresh()
    assert assigner("home", _units(1)[0]) is None


def test_a_bandit_draws_its_arm_per_request_and_hashes_its_holdout(engine: sa.Engine) -> None:
    _running(engine, _spec(kind="bandit", holdout=0.2))
    draws: list[str] = []

    def draw(experiment: Experiment) -> str:
        draws.append(experiment.id)
        return "treatment" if len(draws) % 2 else "control"

    assigner = _assigner(engine, draw=draw)
    assigner.refresh()
    inside = [u for u in _units(200) if bucket("home-model", u) >= 0.2]
    arms = [assigner("home", inside[0]).variant for _ in range(4)]  # type: ignore[union-attr]
    assert arms == ["treatment", "control", "treatment", "control"]
    held = next(u for u in _units(200) if bucket("home-model", u) < 0.2)
    assert assigner("home", held).variant == HOLDOUT  # type: ignore[union-attr]
    assert len(draws) == 4
    assert assigner.flush() == 0  # a bandit's arms are not sticky


def test_forgetting_a_person_drops_only_their_assignments(engine: sa.Engine) -> None:
    _running(engine, _spec())
    assigner = _assigner(engine)
    assigner.refresh()
    gone, kept, stored = _units(3)
    for unit in (gone, kept, stored):
        assigner("home", unit)
    assigner.flush()
    for unit in (gone, kept):  # held in memory and pending again after a reload
        assigner("home", unit)
    assigner.forget([gone, stored])
    assert not assigner.holds([gone]) and not assigner.holds([stored])
    assert assigner.holds([kept])
    with engine.connect() as conn:
        conn.execute(sa.delete(store.experiment_assignments))
        conn.commit()
    assigner("home", kept)
    assert assigner.flush() == 0  # kept was already held: nothing pending, gone not written back


def test_forget_drops_pending_rows_before_they_are_written(engine: sa.Engine) -> None:
    _running(engine, _spec())
    assigner = _assigner(engine)
    assigner.refresh()
    gone, kept = _units(2)
    assigner("home", gone)
    assigner("home", kept)
    assigner.forget([gone])
    assert assigner.flush() == 1
    with engine.connect() as conn:
        rows = conn.execute(sa.select(store.experiment_assignments.c.profile_id)).scalars().all()
    assert rows == [kept]
