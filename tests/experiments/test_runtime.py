"""Experiments in a whole runtime: the unit is the canonical profile, and erasure reaches the
assignments (stored and held in memory)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from shopwise import store
from shopwise.experiments import ExperimentSpec, validated
from shopwise.runtime import Runtime
from shopwise.serving import RecommendationRequest


def _view(anonymous_id: str, user_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "message_id": uuid.uuid4().hex,
        "type": "product_viewed",
        "anonymous_id": anonymous_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "properties": {"product_id": "p1"},
    }
    if user_id is not None:
        event["user_id"] = user_id
    return event


def _run(runtime: Runtime, **changes: Any) -> None:
    spec: dict[str, Any] = {
        "id": "home-model",
        "variants": [{"name": "control"}, {"name": "popular", "model_version": "popular"}],
    }
    runtime.experiments.create(validated(ExperimentSpec, {**spec, **changes}))
    runtime.experiments.start("home-model")


def _stored(runtime: Runtime) -> dict[str, str]:
    table = store.experiment_assignments
    with runtime.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.profile_id, table.c.variant))
        return {row.profile_id: row.variant for row in rows}


def test_every_device_of_a_person_is_one_unit(runtime: Runtime) -> None:
    """Two browsers of one user resolve to the user's canonical profile: one variant for both,
    stored once, under that profile id (never under a raw id)."""
    stored = runtime.collector.ingest([_view("phone", "u-1"), _view("laptop", "u-1")])
    assert runtime.bus.wait_until_consumed(stored.last_event_id, timeout=30)
    _run(runtime)
    canonical = runtime.profiles.canonical("u-1")
    assert canonical is not None
    assert runtime.profiles.canonical("phone") == runtime.profiles.canonical("laptop") == canonical
    answers = [
        runtime.recommendations.recommend(RecommendationRequest("home", anonymous_id=device))
        for device in ("phone", "laptop")
    ]
    shown = {answer.public()["experiment"]["variant"] for answer in answers}
    expected = runtime.assigner("home", canonical)
    assert expected is not None and shown == {expected.variant}
    runtime.assigner.flush()
    assert _stored(runtime) == {canonical: expected.variant}


def test_erasure_removes_a_persons_assignments(runtime: Runtime) -> None:
    stored = runtime.collector.ingest([_view("a-gone", "u-gone"), _view("a-kept", "u-kept")])
    assert runtime.bus.wait_until_consumed(stored.last_event_id, timeout=30)
    _run(runtime)
    gone, kept = runtime.profiles.canonical("u-gone"), runtime.profiles.canonical("u-kept")
    assert gone is not None and kept is not None
    kept_variant = runtime.assigner("home", kept).variant  # type: ignore[union-attr]
    runtime.assigner("home", gone)
    runtime.assigner.flush()
    assert set(_stored(runtime)) == {gone, kept}
    runtime.rights.request_erasure("u-gone", "test")
    [done] = runtime.rights.run_pending()
    assert done["status"] == "verified", done["details"]
    assert "experiment_assignments" in done["details"]["verification"]["searched"]
    assert _stored(runtime) == {kept: kept_variant}
    assert not runtime.assigner.holds([gone])
    assert runtime.assigner.holds([kept])  # loaded back from the store


def test_a_failed_reload_after_a_change_does_not_fail_the_change(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change is committed before the assigner reloads: a store hiccup in the reload is
    logged and left to the background refresh, not answered with an error."""

    def down() -> None:
        raise sa.exc.OperationalError("select", {}, Exception("store down"))

    monkeypatch.setattr(runtime.assigner, "refresh", down)
    _run(runtime)
    assert runtime.experiments.get("home-model").status == "running"
