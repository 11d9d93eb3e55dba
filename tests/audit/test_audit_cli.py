"""``shopwise audit verify`` and ``shopwise audit list`` over the SQLite store of a data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from tests.cli.test_cli_imports import HEAVY, _loaded_after
from typer.testing import CliRunner

from shopwise import store
from shopwise.audit import AuditLog
from shopwise.cli import app
from shopwise.settings import Settings

runner = CliRunner()


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    """The store the CLI opens (its data dir set in the environment), migrated."""
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    eng = store.create_engine(Settings())
    store.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def log(engine: sa.Engine) -> AuditLog:
    audit = AuditLog(engine)
    audit.record("key:k1", "profile.read", subject="p1", details={"fields": ["traits"]})
    audit.record("cli", "key.created", subject="k2", details={"kind": "admin"})
    audit.record("system", "privacy.erase", subject="p1", details={"events": 3})
    return audit


def test_verify_exits_0_and_prints_the_head(log: AuditLog) -> None:
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0
    assert result.output == f"audit log intact: 3 entries, head {log.head().hash}\n"


def test_verify_a_new_store(engine: sa.Engine) -> None:
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0 and "intact: 0 entries, head " + "0" * 64 in result.output


def test_verify_exits_1_and_names_the_tampered_entry(log: AuditLog, engine: sa.Engine) -> None:
    second = log.entries()[1]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET subject = 'k3' WHERE id = :i"), {"i": second.id})
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"entry {second.id}: hash mismatch (edited)",
        "audit log broken: 1 problem in 3 entries",
    ]


def test_verify_against_a_kept_head(log: AuditLog, engine: sa.Engine) -> None:
    head = log.head()
    kept = f"{head.entries}:{head.hash}"
    assert runner.invoke(app, ["audit", "verify", "--head", kept]).exit_code == 0
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": log.entries()[-1].id})
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    result = runner.invoke(app, ["audit", "verify", "--head", kept])
    assert result.exit_code == 1 and "entries at its end were deleted" in result.output


def test_a_malformed_head_is_a_usage_error(log: AuditLog) -> None:
    result = runner.invoke(app, ["audit", "verify", "--head", "3:nothex"])
    assert result.exit_code == 2 and "ENTRIES:HASH" in result.output


def test_list_prints_json_lines_oldest_first(log: AuditLog) -> None:
    result = runner.invoke(app, ["audit", "list"])
    assert result.exit_code == 0
    lines = [orjson.loads(line) for line in result.output.splitlines()]
    assert lines == [entry.as_json() for entry in log.entries()]
    by_subject = runner.invoke(app, ["audit", "list", "--subject", "p1", "--limit", "1"])
    assert [orjson.loads(line)["action"] for line in by_subject.output.splitlines()] == [
        "profile.read"
    ]
    erased = runner.invoke(app, ["audit", "list", "--action", "privacy.erase"])
    assert [orjson.loads(line)["details"] for line in erased.output.splitlines()] == [{"events": 3}]
    after = runner.invoke(app, ["audit", "list", "--after", str(log.entries()[1].id)])
    assert len(after.output.splitlines()) == 1


@pytest.mark.parametrize("args", [["audit", "--help"], ["audit", "verify", "--help"]])
def test_audit_help_leaves_heavy_modules_unimported(args: list[str], tmp_path: Path) -> None:
    loaded = _loaded_after(args, tmp_path)
    heavy = sorted(
        name for name in loaded for root in HEAVY if name == root or name.startswith(root + ".")
    )
    assert heavy == [] and "shopwise.audit" not in loaded
