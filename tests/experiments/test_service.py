"""The life of a stored experiment on both store backends: draft, running, stopped."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from shopwise.decide import content_store, rule_store
from shopwise.decide._versions import default_text
from shopwise.errors import Conflict, InvalidInput, NotFound
from shopwise.experiments import (
    Experiments,
    ExperimentSpec,
    ExperimentUpdate,
    References,
    validated,
)
from shopwise.experiments import _service as experiments_service
from shopwise.registry import ARTIFACT, ModelRegistry


def _spec(experiment_id: str = "home-model", **changes: Any) -> ExperimentSpec:
    spec: dict[str, Any] = {
        "id": experiment_id,
        "variants": [{"name": "control"}, {"name": "popular", "model_version": "popular"}],
    }
    return validated(ExperimentSpec, {**spec, **changes})


@pytest.fixture
def service(engine: sa.Engine) -> Experiments:
    return Experiments(engine)


def test_create_get_and_list(service: Experiments) -> None:
    created = service.create(_spec())
    assert created.status == "draft" and created.started_at is None
    assert service.get("home-model") == created
    time.sleep(0.01)  # created a later millisecond
    service.create(_spec("search-model"))
    assert [e.id for e in service.list()] == ["search-model", "home-model"]
    service.start("home-model")
    assert [e.id for e in service.list("draft")] == ["search-model"]
    assert [e.id for e in service.list("running")] == ["home-model"]
    assert service.list("stopped") == []
    with pytest.raises(NotFound):
        service.get("nope")


def test_an_id_is_taken_once(service: Experiments) -> None:
    service.create(_spec())
    with pytest.raises(Conflict, match="already exists"):
        service.create(_spec())


def test_start_and_stop_move_forward_only(service: Experiments) -> None:
    service.create(_spec())
    with pytest.raises(Conflict, match="draft; only a running one can be stopped"):
        service.stop("home-model")
    running = service.start("home-model")
    assert running.status == "running" and running.started_at is not None
    assert service.running() == [running]
    with pytest.raises(Conflict, match="running; only a draft one can be started"):
        service.start("home-model")
    stopped = service.stop("home-model")
    assert stopped.status == "stopped" and stopped.stopped_at is not None
    assert stopped.stopped_at >= running.started_at
    with pytest.raises(Conflict):
        service.start("home-model")
    with pytest.raises(NotFound):
        service.start("nope")
    assert service.running() == []


def test_running_experiments_come_in_the_order_they_started(service: Experiments) -> None:
    for name in ("b-second", "a-first"):
        service.create(_spec(name))
    service.start("b-second")
    time.sleep(0.01)  # started a later millisecond
    service.start("a-first")
    assert [e.id for e in service.running()] == ["b-second", "a-first"]


def test_update_changes_weights_audience_and_metrics_until_stopped(service: Experiments) -> None:
    service.create(_spec())
    change = ExperimentUpdate(weights={"popular": 3}, audience=("vip",), guardrails=("ctr",))
    with pytest.raises(InvalidInput, match="guardrails"):  # ctr is the primary metric
        service.update("home-model", change)
    change = ExperimentUpdate(
        weights={"popular": 3}, audience=("vip",), primary_metric="conversion_rate"
    )
    updated = service.update("home-model", change)
    assert [v.weight for v in updated.variants] == [1.0, 3.0]
    assert updated.audience == ("vip",) and updated.primary_metric == "conversion_rate"
    service.start("home-model")
    moved = service.update("home-model", ExperimentUpdate(weights={"control": 2}))
    assert [v.weight for v in moved.variants] == [2.0, 3.0]
    with pytest.raises(InvalidInput) as raised:
        service.update("home-model", ExperimentUpdate(weights={"nope": 1}))
    assert raised.value.details[0]["field"] == "weights.nope"
    service.stop("home-model")
    with pytest.raises(Conflict, match="stopped"):
        service.update("home-model", ExperimentUpdate(audience=()))
    with pytest.raises(NotFound):
        service.update("nope", ExperimentUpdate(audience=()))


def test_every_change_is_announced(engine: sa.Engine) -> None:
    calls: list[int] = []
    service = Experiments(engine, changed=lambda: calls.append(1))
    service.create(_spec())
    service.update("home-model", ExperimentUpdate(weights={"control": 2}))
    service.start("home-model")
    service.stop("home-model")
    assert len(calls) == 4
    with pytest.raises(Conflict):
        service.stop("home-model")
    assert len(calls) == 4


@pytest.fixture
def checked(engine: sa.Engine, tmp_path: Path) -> Experiments:
    registry = ModelRegistry(tmp_path / "models", "recommenders")
    (registry.root / "20260301-abc").mkdir(parents=True)
    (registry.root / "20260301-abc" / ARTIFACT).write_bytes(b"")
    references = References(registry, rule_store(engine), content_store(engine))
    return Experiments(engine, references=references)


@pytest.mark.parametrize(
    ("variant", "field"),
    [
        ({"model_version": "19990101-gone"}, "variants.1.model_version"),
        ({"rules_version": 7}, "variants.1.rules_version"),
        ({"content_version": 7}, "variants.1.content_version"),
        ({"banner": "no-such-block"}, "variants.1.banner"),
        ({"banner": "cart-reminder"}, "variants.1.banner"),  # a message, not a banner
        ({"layout": ["bestsellers", "no_such_section"]}, "variants.1.layout"),
    ],
)
def test_what_a_variant_names_must_exist(
    checked: Experiments, variant: dict[str, Any], field: str
) -> None:
    spec = _spec(variants=[{"name": "control"}, {"name": "b", **variant}], placements=["home"])
    with pytest.raises(InvalidInput) as raised:
        checked.create(spec)
    assert raised.value.details[0]["field"] == field
    assert raised.value.message.startswith(field)


def test_names_that_exist_pass_and_are_checked_again_at_start(
    checked: Experiments, engine: sa.Engine, tmp_path: Path
) -> None:
    rules = rule_store(engine).put(default_text("rules"), None).version
    content = content_store(engine).put(default_text("content"), None).version
    spec = _spec(
        variants=[
            {"name": "control"},
            {"name": "model", "model_version": "20260301-abc"},
            {"name": "look", "banner": "welcome", "layout": ["bestsellers", "recommended"]},
            {"name": "rules", "rules_version": rules, "content_version": content},
        ],
        placements=["home"],
    )
    checked.create(spec)
    (tmp_path / "models" / "recommenders" / "20260301-abc" / ARTIFACT).unlink()
    with pytest.raises(InvalidInput, match=r"variants\.1\.model_version"):
        checked.start("home-model")
    assert checked.get("home-model").status == "draft"


def test_a_change_never_overwrites_a_concurrent_stop(
    service: Experiments, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.create(_spec())
    service.start("home-model")
    real = experiments_service._changed

    def stopped_meanwhile(spec: ExperimentSpec, change: ExperimentUpdate) -> ExperimentSpec:
        if service.get("home-model").status == "running":
            Experiments(engine).stop("home-model")  # another request, between read and write
        return real(spec, change)

    monkeypatch.setattr(experiments_service, "_changed", stopped_meanwhile)
    with pytest.raises(Conflict, match="stopped"):
        service.update("home-model", ExperimentUpdate(weights={"control": 5}))
    stored = service.get("home-model")
    assert stored.status == "stopped" and stored.variants[0].weight == 1.0


def test_a_weight_change_is_recorded_and_kept_by_other_changes(service: Experiments) -> None:
    service.create(_spec())
    service.start("home-model")
    assert service.get("home-model").weights_changed_at is None
    changed = service.update("home-model", ExperimentUpdate(weights={"control": 3}))
    assert changed.weights_changed_at is not None
    assert changed.started_at is not None and changed.weights_changed_at >= changed.started_at
    later = service.update("home-model", ExperimentUpdate(audience=("vip",)))
    assert later.weights_changed_at == changed.weights_changed_at
    assert later.audience == ("vip",) and later.variants[0].weight == 3
