"""Experiments over HTTP (admin key) and from the command line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shopwise import store
from shopwise.cli import app
from shopwise.runtime import Runtime
from shopwise.settings import Settings

BODY: dict[str, Any] = {
    "id": "home-model",
    "placements": ["home"],
    "variants": [
        {"name": "control"},
        {"name": "popular", "model_version": "popular", "weight": 1},
    ],
    "holdout": 0.05,
    "primary_metric": "ctr",
    "guardrails": ["revenue_per_visitor"],
}


def test_the_life_of_an_experiment(client: TestClient, admin_auth: dict[str, str]) -> None:
    created = client.post("/v1/experiments", json=BODY, headers=admin_auth)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft" and created.json()["salt"] == "home-model"
    assert client.get("/v1/experiments/home-model", headers=admin_auth).json() == created.json()
    changed = client.patch(
        "/v1/experiments/home-model", json={"weights": {"popular": 3}}, headers=admin_auth
    )
    assert [v["weight"] for v in changed.json()["variants"]] == [1.0, 3.0]
    started = client.post("/v1/experiments/home-model/start", headers=admin_auth)
    assert started.json()["status"] == "running" and started.json()["started_at"]
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    # this process's assigner serves it at once
    treatment = runtime.assigner("home", "p_0123")
    assert treatment is not None and treatment.experiment == "home-model"
    listed = client.get("/v1/experiments?status=running", headers=admin_auth).json()
    assert [e["id"] for e in listed["experiments"]] == ["home-model"]
    stopped = client.post("/v1/experiments/home-model/stop", headers=admin_auth)
    assert stopped.json()["status"] == "stopped"
    assert runtime.assigner("home", "p_0123") is None
    actions = [entry.action for entry in runtime.audit.entries()]
    assert [a for a in actions if a.startswith("experiment.")] == [
        "experiment.created",
        "experiment.changed",
        "experiment.started",
        "experiment.stopped",
    ]


def test_errors_name_the_field_and_the_status(
    client: TestClient, admin_auth: dict[str, str]
) -> None:
    bad = client.post("/v1/experiments", json={**BODY, "holdout": 0.7}, headers=admin_auth)
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["field"] == "holdout"
    one = client.post(
        "/v1/experiments", json={**BODY, "variants": [{"name": "a"}]}, headers=admin_auth
    )
    assert one.status_code == 400 and one.json()["error"]["message"].startswith("variants:")
    assert client.post("/v1/experiments", json=BODY, headers=admin_auth).status_code == 201
    assert client.post("/v1/experiments", json=BODY, headers=admin_auth).status_code == 409
    assert client.get("/v1/experiments/nope", headers=admin_auth).status_code == 404
    assert client.post("/v1/experiments/nope/start", headers=admin_auth).status_code == 404
    stop = client.post("/v1/experiments/home-model/stop", headers=admin_auth)
    assert stop.status_code == 409 and stop.json()["error"]["code"] == "conflict"
    weights = client.patch(
        "/v1/experiments/home-model", json={"weights": {"nope": 1}}, headers=admin_auth
    )
    assert weights.status_code == 400
    assert weights.json()["error"]["details"][0]["field"] == "weights.nope"
    extra = client.patch("/v1/experiments/home-model", json={"holdout": 0.1}, headers=admin_auth)
    assert extra.status_code == 400
    listed = client.get("/v1/experiments?status=paused", headers=admin_auth)
    assert listed.status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/experiments"),
        ("get", "/v1/experiments"),
        ("get", "/v1/experiments/home-model"),
        ("patch", "/v1/experiments/home-model"),
        ("post", "/v1/experiments/home-model/start"),
        ("post", "/v1/experiments/home-model/stop"),
    ],
)
def test_an_admin_key_is_required(
    client: TestClient, secret_auth: dict[str, str], method: str, path: str
) -> None:
    body = BODY if path == "/v1/experiments" and method == "post" else {"weights": {}}
    kwargs: dict[str, Any] = {"json": body} if method in ("post", "patch") else {}
    assert client.request(method, path, headers=secret_auth, **kwargs).status_code == 403
    assert client.request(method, path, **kwargs).status_code == 401


runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    return tmp_path


def test_the_commands_create_list_start_and_stop(env: Path) -> None:
    definition = env / "exp.yaml"
    definition.write_text(
        "id: home-model\nplacements: [home]\nholdout: 0.1\nvariants:\n"
        "  - name: control\n  - name: popular\n    model_version: popular\n"
    )
    created = runner.invoke(app, ["experiments", "create", "--file", str(definition)])
    assert created.exit_code == 0, created.output
    assert "created home-model (draft): control 45%, popular 45%, holdout 10%" in created.output
    as_json = env / "exp.json"
    as_json.write_text(json.dumps({**BODY, "id": "search-model", "holdout": 0}))
    assert runner.invoke(app, ["experiments", "create", "--file", str(as_json)]).exit_code == 0
    assert runner.invoke(app, ["experiments", "start", "home-model"]).exit_code == 0
    listed = runner.invoke(app, ["experiments", "list", "--status", "running"])
    assert listed.exit_code == 0 and "home-model" in listed.output
    assert "search-model" not in listed.output
    assert runner.invoke(app, ["experiments", "stop", "home-model"]).exit_code == 0
    assert "stopped" in runner.invoke(app, ["experiments", "list"]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["experiments", "start", "nope"], "no experiment 'nope'"),
        (["experiments", "list", "--status", "paused"], "--status takes"),
        (["experiments", "create", "--file", "missing.yaml"], "cannot read"),
    ],
)
def test_bad_input_exits_2_with_one_line(env: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_a_bad_definition_file_names_the_field(env: Path) -> None:
    definition = env / "bad.yaml"
    definition.write_text("id: home-model\nvariants: [{name: only}]\n")
    result = runner.invoke(app, ["experiments", "create", "--file", str(definition)])
    assert result.exit_code == 2 and "variants:" in result.output
    stopped_twice = env / "ok.yaml"
    stopped_twice.write_text("id: x\nvariants: [{name: a}, {name: b}]\n")
    assert (
        runner.invoke(app, ["experiments", "create", "--file", str(stopped_twice)]).exit_code == 0
    )
    conflict = runner.invoke(app, ["experiments", "stop", "x"])
    assert conflict.exit_code == 2 and "only a running one can be stopped" in conflict.output


def test_a_report_refuses_more_looks_than_the_cap(env: Path) -> None:
    definition = env / "exp.yaml"
    definition.write_text("id: long\nvariants: [{name: a}, {name: b}]\n")
    assert runner.invoke(app, ["experiments", "create", "--file", str(definition)]).exit_code == 0
    assert runner.invoke(app, ["experiments", "start", "long"]).exit_code == 0
    engine = store.create_engine(Settings(data_dir=env / "var"))
    three_days_ago = int(time.time() * 1000) - 3 * 86_400_000
    with engine.begin() as conn:
        conn.execute(store.experiments.update().values(started_at=three_days_ago))
    engine.dispose()
    out = env / "report"
    result = runner.invoke(
        app, ["experiments", "report", "long", "--out", str(out), "--look-minutes", "1"]
    )
    assert result.exit_code == 2, result.output
    assert "--look-minutes: 1 gives" in result.output and "(use at least 5)" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


def test_the_cli_refuses_a_variant_naming_a_missing_model(env: Path) -> None:
    definition = env / "exp.yaml"
    definition.write_text("id: m\nvariants: [{name: a}, {name: b, model_version: 19990101-gone}]\n")
    result = runner.invoke(app, ["experiments", "create", "--file", str(definition)])
    assert result.exit_code == 2
    assert "variants.1.model_version: no model version '19990101-gone'" in result.output


def test_a_variant_naming_a_missing_banner_is_a_400(
    client: TestClient, admin_auth: dict[str, str]
) -> None:
    body = {**BODY, "variants": [{"name": "control"}, {"name": "b", "banner": "nope"}]}
    answer = client.post("/v1/experiments", json=body, headers=admin_auth)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["details"][0]["field"] == "variants.1.banner"
    assert client.get("/v1/experiments/home-model", headers=admin_auth).status_code == 404
