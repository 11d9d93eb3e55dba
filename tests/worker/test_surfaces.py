"""``shopwise jobs list|show`` and ``GET /v1/jobs``: the recorded runs, and unknown ids refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shopwise import store
from shopwise.cli import app
from shopwise.cli._common import console
from shopwise.logs import Progress
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.worker import Job, Scheduler


def _trained(progress: Progress) -> dict[str, Any]:
    progress("fitting")
    return {"version": "v1", "profiles": 3}


def _broken(_progress: Progress) -> dict[str, Any]:
    raise RuntimeError("disk full")


def _record_runs(engine: sa.Engine) -> list[int]:
    """A succeeded run, then a failed one; their ids."""
    jobs = [Job("train", 60.0, _trained, lane="long"), Job("broken", 60.0, _broken)]
    scheduler = Scheduler(engine, jobs, "test-worker")
    return [scheduler.run_due(job).run_id or 0 for job in jobs]


def test_the_routes_list_and_show_runs_to_an_admin(
    client: TestClient, admin_auth: dict[str, str], secret_auth: dict[str, str]
) -> None:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    trained, broken = _record_runs(runtime.engine)
    listed = client.get("/v1/jobs", headers=admin_auth)
    assert listed.status_code == 200
    runs = listed.json()["runs"]
    assert [(r["id"], r["job"], r["status"]) for r in runs] == [
        (broken, "broken", "failed"),
        (trained, "train", "succeeded"),
    ]
    assert runs[0]["detail"] == {"error": "RuntimeError: disk full"}
    assert runs[1]["duration_seconds"] >= 0 and runs[1]["finished_at"].endswith("+00:00")
    only = client.get("/v1/jobs", params={"job": "train", "limit": 5}, headers=admin_auth)
    assert [r["id"] for r in only.json()["runs"]] == [trained]
    one = client.get(f"/v1/jobs/{trained}", headers=admin_auth).json()
    assert one["detail"] == {"version": "v1", "profiles": 3} and one["owner"] == "test-worker"
    missing = client.get("/v1/jobs/999999", headers=admin_auth)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert missing.json()["error"]["message"] == "no job run 999999"
    assert client.get("/v1/jobs", headers=secret_auth).status_code == 403
    assert client.get(f"/v1/jobs/{trained}", headers=secret_auth).status_code == 403
    assert client.get("/v1/jobs", params={"limit": 0}, headers=admin_auth).status_code == 400


def test_the_commands_list_and_show_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    engine = store.create_engine(Settings())
    store.upgrade(engine)
    trained, broken = _record_runs(engine)
    engine.dispose()
    monkeypatch.setattr(console, "width", 200)  # the whole table, no cell cut short
    runner = CliRunner()
    listed = runner.invoke(app, ["jobs", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    failed = next(line for line in lines if "broken" in line)
    assert "failed" in failed and "RuntimeError: disk full" in failed
    succeeded = next(line for line in lines if " train " in line)
    assert "succeeded" in succeeded and "version=v1, profiles=3" in succeeded
    only = runner.invoke(app, ["jobs", "list", "--job", "broken"])
    assert "broken" in only.output and " train " not in only.output
    shown = runner.invoke(app, ["jobs", "show", str(broken)])
    assert shown.exit_code == 0, shown.output
    run = orjson.loads(shown.output)
    assert (run["id"], run["status"], run["detail"]) == (
        broken,
        "failed",
        {"error": "RuntimeError: disk full"},
    )
    unknown = runner.invoke(app, ["jobs", "show", "999999"])
    assert unknown.exit_code == 2
    assert unknown.output.strip() == "error: no job run 999999"
    assert trained != broken
