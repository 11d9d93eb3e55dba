"""``shopwise drift report`` and ``GET /v1/drift`` / ``POST /v1/drift/check`` (admin)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from tests.drift.helpers import drift_shop
from typer.testing import CliRunner

from shopwise.cli import app
from shopwise.cli._common import console
from shopwise.runtime import Runtime
from shopwise.settings import Settings


def test_the_routes_run_a_check_and_return_the_latest_report(
    client: TestClient, admin_auth: dict[str, str], secret_auth: dict[str, str]
) -> None:
    none = client.get("/v1/drift", headers=admin_auth)
    assert none.status_code == 404 and none.json()["error"]["code"] == "not_found"
    untrained = client.post("/v1/drift/check", headers=admin_auth)
    assert untrained.status_code == 409
    assert untrained.json()["error"]["code"] == "not_enough_data"
    assert untrained.json()["error"]["message"].startswith("no recommender champion yet")
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    shop = drift_shop(runtime)
    short = client.post("/v1/drift/check", headers=admin_auth)
    assert short.status_code == 409 and short.json()["error"]["code"] == "not_enough_data"
    shop.add_recent("surge")
    checked = client.post("/v1/drift/check", headers=admin_auth)
    assert checked.status_code == 200, checked.text
    report = checked.json()
    assert report["verdict"] == "drift" and "category" in report["drifted_features"]
    assert client.get("/v1/drift", headers=admin_auth).json() == report
    bad = client.post("/v1/drift/check", json={"recent_days": 0}, headers=admin_auth)
    assert bad.status_code == 400 and "recent_days" in bad.text
    three = client.post("/v1/drift/check", json={"recent_days": 3}, headers=admin_auth).json()
    assert three["windows"]["recent"]["end_ms"] - three["windows"]["recent"]["start_ms"] == (
        3 * 24 * 3600 * 1000
    )
    assert client.get("/v1/drift", headers=secret_auth).status_code == 403
    assert client.post("/v1/drift/check", headers=secret_auth).status_code == 403


def test_the_command_prints_the_table_or_json_and_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    monkeypatch.setattr(console, "width", 200)
    runner = CliRunner()
    untrained = runner.invoke(app, ["drift", "report"])
    assert untrained.exit_code == 2
    assert untrained.output.strip().startswith("error: no recommender champion yet")
    assert len(untrained.output.strip().splitlines()) == 1
    runtime = Runtime.build(Settings(), migrate=True)
    runtime.start()
    try:
        drift_shop(runtime).add_recent("price")
    finally:
        runtime.stop()
    shown = runner.invoke(app, ["drift", "report", "--out", str(tmp_path / "out")])
    assert shown.exit_code == 0, shown.output
    band = next(line for line in shown.output.splitlines() if "price_band" in line)
    assert "drift (psi, chi2)" in band
    assert "verdict: drift" in shown.output and str(tmp_path / "out") in shown.output
    printed = runner.invoke(app, ["drift", "report", "--json", "--recent-days", "3"])
    assert printed.exit_code == 0, printed.output
    report = orjson.loads(printed.output)
    assert report["verdict"] == "drift" and "price_band" in report["drifted_features"]
    assert report["files"]["json"].startswith(str(tmp_path / "var" / "drift"))
    assert report["windows"]["recent"]["end_ms"] - report["windows"]["recent"]["start_ms"] == (
        3 * 24 * 3600 * 1000
    )
