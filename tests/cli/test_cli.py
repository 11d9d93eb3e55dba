"""The command line: keys, migrations, imports, dead letters, and one-line exit-2 failures."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from shopwise import __version__
from shopwise.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    return tmp_path


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_db_upgrade_and_current(env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 0 and "(current)" in result.output


def test_keys_create_list_revoke(env: Path) -> None:
    created = runner.invoke(app, ["keys", "create", "--kind", "secret", "--name", "backend"])
    assert created.exit_code == 0
    plaintext = created.output.strip().splitlines()[-1]
    assert plaintext.startswith("sw_secret_")
    key_id = plaintext.split("_")[2]
    listed = runner.invoke(app, ["keys", "list"])
    assert key_id in listed.output and "backend" in listed.output
    assert plaintext not in listed.output
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    assert key_id not in runner.invoke(app, ["keys", "list"]).output


def test_bad_input_exits_2_with_one_line(env: Path) -> None:
    result = runner.invoke(app, ["keys", "create", "--kind", "superuser"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "kind must be one of" in result.output
    missing = runner.invoke(app, ["import", "events", str(env / "nope.jsonl")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    odd = runner.invoke(app, ["import", "events", str(env / "x.xml")])
    assert odd.exit_code == 2 and "unsupported format" in odd.output
    revoke = runner.invoke(app, ["keys", "revoke", "nope"])
    assert revoke.exit_code == 2 and "no active API key" in revoke.output


def test_bad_setting_exits_2(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPWISE_PORT", "not-a-port")
    result = runner.invoke(app, ["keys", "list"])
    assert result.exit_code == 2 and "SHOPWISE_PORT" in result.output


def _event(i: int, **props: object) -> dict[str, object]:
    return {
        "message_id": f"imp-{i}",
        "type": "product_viewed",
        "anonymous_id": "a",
        "timestamp": "2026-01-01T00:00:00Z",
        "properties": props,
    }


def test_import_events_jsonl_dedupes_and_dead_letters(env: Path) -> None:
    path = env / "events.jsonl"
    lines = [orjson.dumps(_event(i, product_id=f"p{i}")) for i in range(7)]
    lines += [orjson.dumps(_event(99)), b"{not json"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    first = runner.invoke(app, ["import", "events", str(path)])
    assert first.exit_code == 0, first.output
    assert "accepted 7, duplicates 0, rejected 2" in first.output
    again = runner.invoke(app, ["import", "events", str(path)])
    assert "accepted 0, duplicates 7, rejected 2" in again.output
    letters = runner.invoke(app, ["events", "dead-letters"])
    assert "invalid_properties" in letters.output and "invalid_envelope" in letters.output


def test_import_events_csv(env: Path) -> None:
    path = env / "events.csv"
    rows = ["message_id,type,anonymous_id,timestamp,properties"]
    rows += [
        f'{uuid.uuid4().hex},product_viewed,a,2026-01-01T00:00:00Z,"{{""product_id"": ""p{i}""}}"'
        for i in range(3)
    ]
    path.write_text("\n".join(rows) + "\n")
    result = runner.invoke(app, ["import", "events", str(path)])
    assert "accepted 3, duplicates 0, rejected 0" in result.output


def test_import_catalog(env: Path) -> None:
    path = env / "products.jsonl"
    rows = [
        {"id": f"p{i}", "title": f"T{i}", "price": 1.5 * i, "category": "A > B"} for i in range(5)
    ]
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    result = runner.invoke(app, ["import", "catalog", str(path)])
    assert result.exit_code == 0 and "5 created, 0 updated" in result.output
    bad = env / "bad.jsonl"
    bad.write_bytes(orjson.dumps({"id": "x", "title": "T", "price": -3}))
    failed = runner.invoke(app, ["import", "catalog", str(bad)])
    assert failed.exit_code == 2 and "products[0].price" in failed.output


def test_usage_errors_are_one_line_with_status_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shopwise.cli import main

    for argv in (["keys", "create"], ["nosuch"], ["keys", "list", "--bogus"]):
        monkeypatch.setattr("sys.argv", ["shopwise", *argv])
        with pytest.raises(SystemExit) as info:
            main()
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err


def test_a_consumers_only_worker_folds_profiles_and_runs_no_jobs(env: Path) -> None:
    """The demo's builder: ``worker --consumers-only`` folds what another process stores, runs
    no job, and stops on SIGTERM with status 0; it goes with neither ``--jobs-only`` nor
    ``--once``."""
    import os
    import signal
    import subprocess
    import sys

    from shopwise.runtime import Runtime
    from shopwise.settings import Settings
    from shopwise.worker import recent_runs

    for clash in ("--jobs-only", "--once"):
        refused = runner.invoke(app, ["worker", "--consumers-only", clash])
        assert refused.exit_code == 2 and "--consumers-only runs no jobs" in refused.output
    runtime = Runtime.build(Settings(data_dir=env / "var"), migrate=True)
    runtime.start(consumers=False)
    worker = subprocess.Popen(
        [sys.executable, "-m", "shopwise.cli", "worker", "--consumers-only"],
        env={**os.environ, "SHOPWISE_DATA_DIR": str(env / "var")},
    )
    try:
        event = {"type": "product_viewed", "anonymous_id": "a1", "message_id": "m1"}
        event |= {"timestamp": "2026-01-02T03:04:05Z", "properties": {"product_id": "p1"}}
        result = runtime.collector.ingest([event])
        assert result.accepted == 1
        assert runtime.bus.wait_until_consumed(result.last_event_id, timeout=60)
        profile = runtime.profiles.get("a1")
        assert profile is not None and profile.state.events == 1
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        assert recent_runs(runtime.engine) == []
    finally:
        worker.kill()
        worker.wait()
        runtime.stop()
