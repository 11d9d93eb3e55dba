"""``GET /v1/kpis`` and ``shopwise kpis``: what they show, and how they refuse bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.kpis.helpers import HOUR, T0, Log
from typer.testing import CliRunner

from shopwise import store
from shopwise.cli import app
from shopwise.cli._common import console
from shopwise.kpis import KpiRefresh
from shopwise.privacy import ConsentPolicy
from shopwise.runtime import Runtime
from shopwise.settings import Settings

FROM, TO = "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"


def _served_and_clicked(engine: sa.Engine, log: Log) -> None:
    home = log.answer("s1", T0 + 10, ["a", "b"])
    log.click("s1", T0 + 20, home, "a")
    log.answer("s2", T0 + HOUR, ["c"], placement="cart")
    log.flush(engine)
    KpiRefresh(engine, ConsentPolicy()).run()


def test_the_route_reads_the_stored_kpis(
    client: TestClient, secret_auth: dict[str, str], write_auth: dict[str, str], log: Log
) -> None:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    _served_and_clicked(runtime.engine, log)
    got = client.get(f"/v1/kpis?from={FROM}&to={TO}&grain=hour", headers=secret_auth)
    assert got.status_code == 200
    rows = got.json()["kpis"]
    assert [(r["bucket_start"], r["placement"], r["clicks"]) for r in rows] == [
        ("2026-03-02T10:00:00Z", "home", 1),
        ("2026-03-02T11:00:00Z", "cart", 0),
    ]
    assert rows[0]["ctr"] == 1.0 and rows[0]["variant"] == "none"
    day = client.get(
        "/v1/kpis", params={"from": FROM, "to": TO, "placement": "cart"}, headers=secret_auth
    ).json()
    assert day["grain"] == "day" and [r["impressions"] for r in day["kpis"]] == [1]
    assert client.get("/v1/kpis", headers=write_auth).status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"grain": "week"}, "grain"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-03-02T00:00:00"}, "from"),  # no time zone
        ({"from": TO, "to": FROM}, "to"),
    ],
)
def test_the_route_names_the_bad_field(
    client: TestClient, secret_auth: dict[str, str], query: dict[str, str], field: str
) -> None:
    got = client.get("/v1/kpis", params=query, headers=secret_auth)
    assert got.status_code == 400
    error = got.json()["error"]
    assert error["details"][0]["field"] == field and field in error["message"]


def test_the_command_prints_a_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log: Log
) -> None:
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    engine = store.create_engine(Settings())
    store.upgrade(engine)
    _served_and_clicked(engine, log)
    engine.dispose()
    monkeypatch.setattr(console, "width", 200)  # the whole table, no cell cut short
    runner = CliRunner()
    args = ["kpis", "--from", "2026-03-02", "--to", "2026-03-03", "--grain", "hour"]
    shown = runner.invoke(app, [*args, "--placement", "home"])
    assert shown.exit_code == 0, shown.output
    assert "2026-03-02T10:00:00Z" in shown.output and "100.00%" in shown.output
    assert "2026-03-02T11:00:00Z" not in shown.output  # the cart answer's hour
    bad = runner.invoke(app, ["kpis", "--grain", "week"])
    assert bad.exit_code == 2 and "grain must be 'hour' or 'day'" in bad.output
    worse = runner.invoke(app, ["kpis", "--from", "soon"])
    assert worse.exit_code == 2 and "--from takes an ISO date" in worse.output
