"""``shopwise models list|show|promote|rollback`` and ``/v1/models``: the registry to operators,
changes audited, unknown families and versions refused."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shopwise.cli import app
from shopwise.cli._common import console
from shopwise.recommend import Popularity
from shopwise.registry import ModelRegistry
from shopwise.runtime import Runtime
from shopwise.store import audit_log


def _versions(models_dir: Path) -> list[str]:
    """Two champions of the ``clv`` family, then a challenger the gate refused."""
    registry = ModelRegistry(models_dir, "clv")
    first = registry.save(Popularity(), {"model": "clv", "fit_seconds": 1.5}, promote=True)
    second = registry.save(Popularity(), {"model": "clv", "fit_seconds": 2.0}, promote=True)
    gate = {"promoted": False, "reason": "holdout NDCG@10 0.1 is worse than the champion's 0.2"}
    refused = registry.save(Popularity(), {"model": "clv", "gate": gate}, promote=False)
    return [first, second, refused]


def _actions(runtime: Runtime) -> list[tuple[str, str, str]]:
    query = sa.select(audit_log.c.actor, audit_log.c.action, audit_log.c.subject)
    with runtime.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query) if row.action.startswith("model.")]


def test_the_routes_list_show_promote_and_roll_back_for_an_admin(
    client: TestClient, admin_auth: dict[str, str], secret_auth: dict[str, str]
) -> None:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    first, second, refused = _versions(runtime.settings.models_dir)
    listed = client.get("/v1/models", params={"family": "clv"}, headers=admin_auth)
    assert listed.status_code == 200
    rows = listed.json()["models"]
    assert [(r["version"], r["status"]) for r in rows] == [
        (refused, "challenger"),
        (second, "champion"),
        (first, "previous"),
    ]
    assert rows[0]["gate"].startswith("holdout NDCG@10") and rows[1]["fit_seconds"] == 2.0
    assert rows[1]["size_bytes"] > 0
    everything = client.get("/v1/models", headers=admin_auth).json()["models"]
    assert {r["family"] for r in everything} == {"clv"}
    shown = client.get(f"/v1/models/clv/{second}", headers=admin_auth).json()
    assert shown["status"] == "champion" and shown["champion"]["previous"] == [first]

    promoted = client.post(
        f"/v1/models/clv/{refused}/promote",
        json={"reason": "fine on the new data"},
        headers=admin_auth,
    )
    assert promoted.status_code == 200
    assert (
        promoted.json()["version"] == refused
        and promoted.json()["reason"] == "fine on the new data"
    )
    back = client.post(
        "/v1/models/clv/rollback", json={"reason": "revenue dropped"}, headers=admin_auth
    )
    assert (
        back.json()["version"] == second
        and ModelRegistry(runtime.settings.models_dir, "clv").champion() == second
    )
    actions = _actions(runtime)
    assert [(a[1], a[2]) for a in actions] == [
        ("model.promoted", f"clv/{refused}"),
        ("model.rolled_back", f"clv/{second}"),
    ]

    missing = client.get("/v1/models/clv/19700101T000000000Z", headers=admin_auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    unknown = client.get("/v1/models", params={"family": "nope"}, headers=admin_auth)
    assert (
        unknown.status_code == 404
        and "no model family 'nope'" in unknown.json()["error"]["message"]
    )
    empty = client.post("/v1/models/propensity/rollback", headers=admin_auth)
    assert empty.status_code == 409 and empty.json()["error"]["code"] == "conflict"
    assert client.get("/v1/models", headers=secret_auth).status_code == 403
    assert client.post("/v1/models/clv/rollback", headers=secret_auth).status_code == 403


def test_the_commands_list_show_promote_and_roll_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    _first, second, refused = _versions(tmp_path / "var" / "models")
    monkeypatch.setattr(console, "width", 250)
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--family", "clv"])
    assert listed.exit_code == 0, listed.output
    line = next(line for line in listed.output.splitlines() if refused in line)
    assert "challenger" in line and "holdout NDCG@10 0.1" in line
    shown = runner.invoke(app, ["models", "show", second, "--family", "clv"])
    assert shown.exit_code == 0 and orjson.loads(shown.output)["status"] == "champion"
    promoted = runner.invoke(app, ["models", "promote", refused, "--family", "clv"])
    assert promoted.exit_code == 0 and f"clv champion is now {refused}" in promoted.output
    back = runner.invoke(app, ["models", "rollback", "--family", "clv", "--reason", "oops"])
    assert back.exit_code == 0 and f"clv champion is now {second} (oops)" in back.output
    missing = runner.invoke(app, ["models", "show", "19700101T000000000Z", "--family", "clv"])
    assert missing.exit_code == 2
    assert missing.output.strip().splitlines()[-1].endswith("no clv version '19700101T000000000Z'")
    nothing = runner.invoke(app, ["models", "rollback", "--family", "segments"])
    assert nothing.exit_code == 2 and "no earlier segments champion" in nothing.output
