"""The audit log on every store backend: appends build one chain, verification finds tampering.

Tampering is done the way an intruder with database access would: plain UPDATE and DELETE
statements that bypass :class:`AuditLog`.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from shopwise import store
from shopwise.audit import GENESIS_HASH, AuditEntry, AuditLog, ChainHead, entry_hash
from shopwise.errors import InvalidInput
from shopwise.settings import Settings

table = store.audit_log


def _fill(log: AuditLog, n: int = 5) -> list[AuditEntry]:
    details = {"fields": ["traits"]}
    return [
        log.record("key:k1", "profile.read", subject=f"p{i}", details={**details, "i": i})
        for i in range(n)
    ]


def _update(engine: sa.Engine, entry_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == entry_id).values(**values))


def _delete(engine: sa.Engine, entry_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c.id == entry_id))


def test_appends_build_a_valid_chain(log: AuditLog) -> None:
    entries = _fill(log)
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash and after.id > before.id
    for entry in entries:
        fields = (entry.at, entry.actor, entry.action, entry.subject, entry.details)
        assert entry.hash == entry_hash(entry.prev_hash, *fields)
    assert log.entries() == entries
    report = log.verify()
    assert report.ok and report.problems == [] and report.entries == 5
    assert report.head == log.head() == ChainHead(5, entries[-1].hash)


def test_an_empty_log_is_intact(log: AuditLog) -> None:
    report = log.verify()
    assert report.ok and report.entries == 0
    assert log.head() == report.head == (0, GENESIS_HASH)


def test_details_are_hashed_as_the_store_gives_them_back(log: AuditLog) -> None:
    details = {
        "z": (1, 2),
        "a": {"y": 0.1, "b": None},
        "when": datetime(2026, 1, 2, tzinfo=UTC),
        "nan": float("nan"),
    }
    recorded = log.record("system", "rules.changed", subject="7", details=details)
    assert recorded.details == {
        "z": [1, 2],
        "a": {"y": 0.1, "b": None},
        "when": "2026-01-02T00:00:00+00:00",
        "nan": None,
    }
    assert log.entries() == [recorded]
    assert log.verify().ok


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"actor": "k" * 65}, "actor is 65 characters"),
        ({"subject": "s" * 257}, "subject is 257 characters"),
        ({"action": ""}, "needs an actor and an action"),
        ({"details": ["not", "an", "object"]}, "must be a mapping"),
        ({"details": {"x": object()}}, "must be JSON"),
        ({"details": {1: "non-string key"}}, "must be JSON"),
    ],
)
def test_record_refuses_what_the_log_cannot_hold(
    log: AuditLog, fields: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"actor": "cli", "action": "key.created", **fields}
    with pytest.raises(InvalidInput, match=message):
        log.record(**arguments)
    assert log.head().entries == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("at", 1),
        ("actor", "cli"),
        ("action", "profile.exported"),
        ("subject", "someone-else"),
        ("subject", None),
        ("details", {"fields": [], "i": 2}),
        ("prev_hash", "f" * 64),
        ("hash", "e" * 64),
    ],
)
def test_an_edited_middle_entry_is_named(
    log: AuditLog, engine: sa.Engine, column: str, value: object
) -> None:
    entries = _fill(log)
    edited = entries[2]
    _update(engine, edited.id, **{column: value})
    report = log.verify()
    assert not report.ok and report.entries == 5
    assert f"entry {edited.id}: hash mismatch (edited)" in report.problems


def test_details_edited_into_invalid_json_fail_verification(
    log: AuditLog, engine: sa.Engine
) -> None:
    if not store.is_sqlite(engine):
        pytest.skip(reason="PostgreSQL's json type refuses invalid JSON")
    entries = _fill(log, 3)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_log SET details = '{cut' WHERE id = :i"), {"i": entries[1].id}
        )
    assert log.verify().problems == [f"entry {entries[1].id}: hash mismatch (edited)"]


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(
    log: AuditLog, engine: sa.Engine
) -> None:
    entries = _fill(log)
    edited = entries[2]
    forged = entry_hash(edited.prev_hash, edited.at, "cli", edited.action, None, {})
    _update(engine, edited.id, actor="cli", subject=None, details={}, hash=forged)
    report = log.verify()
    assert report.problems == [
        f"entry {entries[3].id}: broken link (an entry before it was deleted or edited); "
        f"it does not follow entry {edited.id}"
    ]


def test_a_deleted_middle_entry_breaks_the_link(log: AuditLog, engine: sa.Engine) -> None:
    entries = _fill(log)
    _delete(engine, entries[2].id)
    report = log.verify()
    assert not report.ok and report.entries == 4
    assert report.problems == [
        f"entry {entries[3].id}: broken link (an entry before it was deleted or edited); "
        f"id {entries[2].id} is missing before it"
    ]


def test_a_deleted_first_entry_breaks_the_link(log: AuditLog, engine: sa.Engine) -> None:
    entries = _fill(log, 3)
    _delete(engine, entries[0].id)
    problems = log.verify().problems
    assert len(problems) == 1
    assert problems[0].startswith(f"entry {entries[1].id}: broken link")
    assert "it is the first entry left but does not start the chain" in problems[0]


def test_a_deleted_last_entry_shows_only_against_the_head(log: AuditLog, engine: sa.Engine) -> None:
    entries = _fill(log)
    head = log.head()
    _delete(engine, entries[-1].id)
    assert log.verify().ok, "links alone cannot show a deletion at the end"
    report = log.verify(head)
    assert not report.ok
    assert report.problems == [
        f"the log holds 4 entries, fewer than the expected head's 5 ({head.hash}): "
        "entries at its end were deleted"
    ]
    # the next append links to the entry now last, so the links never show it; the head still does
    appended = log.record("system", "key.revoked", subject="k1")
    assert log.verify().ok
    assert log.verify(head).problems == [
        f"entry {appended.id}: it is entry number 5 but not the expected head {head.hash} "
        "(entries up to it were deleted or rewritten)"
    ]


def test_an_earlier_head_still_holds_as_the_log_grows(log: AuditLog) -> None:
    _fill(log, 3)
    head = log.head()
    _fill(log, 2)
    assert log.verify(head).ok
    assert log.verify((head.entries, "a" * 64)).problems == [
        f"entry {log.entries()[2].id}: it is entry number 3 but not the expected head "
        f"{'a' * 64} (entries up to it were deleted or rewritten)"
    ]


def test_a_recomputed_chain_shows_only_against_the_head(log: AuditLog, engine: sa.Engine) -> None:
    entries = _fill(log, 3)
    head = log.head()
    prev_hash = entries[0].hash
    for entry in entries[1:]:
        forged = entry_hash(prev_hash, entry.at, entry.actor, entry.action, "forged", entry.details)
        _update(engine, entry.id, subject="forged", prev_hash=prev_hash, hash=forged)
        prev_hash = forged
    assert log.verify().ok, "the hash has no secret: a recomputed suffix passes the links"
    report = log.verify(head)
    assert not report.ok and f"entry {entries[2].id}: it is entry number 3" in report.problems[0]


def test_problems_beyond_the_first_are_counted(log: AuditLog, engine: sa.Engine) -> None:
    _fill(log, 105)
    with engine.begin() as conn:
        conn.execute(sa.update(table).values(actor="cli"))
    report = log.verify()
    assert report.problem_count == 105 and len(report.problems) == 100


def test_entries_filter_and_page(log: AuditLog) -> None:
    reads = _fill(log, 4)
    change = log.record("cli", "consent.changed", subject="p1", details={"purpose": "ads"})
    assert log.entries(action="consent.changed") == [change]
    assert log.entries(subject="p1") == [reads[1], change]
    assert log.entries(limit=2) == reads[:2]
    assert log.entries(after_id=reads[1].id, limit=2) == reads[2:4]
    with pytest.raises(InvalidInput):
        log.entries(limit=0)


def test_threads_appending_at_once_keep_one_chain(log: AuditLog, engine: sa.Engine) -> None:
    threads, each = 8, 50
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def append(worker: int) -> None:
        # a log of its own per thread, as separate services would hold: the store's lock, not the
        # log object's, is what must keep them in one chain
        own = AuditLog(engine)
        start.wait()
        try:
            for i in range(each):
                own.record("system", "profile.read", subject=f"w{worker}", details={"i": i})
        except BaseException as exc:  # a worker's failure is the test's failure
            failures.append(exc)

    workers = [threading.Thread(target=append, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    report = log.verify()
    assert report.ok and report.entries == threads * each
    assert len({entry.prev_hash for entry in log.entries(limit=threads * each)}) == threads * each


def test_a_stricter_isolation_level_does_not_fork_the_chain(engine: sa.Engine) -> None:
    """Regression: under REPEATABLE READ the append read the last hash from a snapshot taken
    before it waited for the advisory lock, so concurrent appends forked the chain."""
    if store.is_sqlite(engine):
        pytest.skip(reason="SQLite's write lock is taken before any read")
    strict = engine.execution_options(isolation_level="REPEATABLE READ")

    def append(worker: int) -> None:
        own = AuditLog(strict)
        for i in range(30):
            own.record("system", "profile.read", subject=f"w{worker}", details={"i": i})

    workers = [threading.Thread(target=append, args=(w,)) for w in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    report = AuditLog(engine).verify()
    assert report.ok and report.entries == 180


_APPENDER = """
import sys, time
from pathlib import Path
from shopwise import store
from shopwise.audit import AuditLog
from shopwise.settings import Settings

url, data_dir, name, count, go = sys.argv[1:]
log = AuditLog(store.create_engine(Settings(database_url=url, data_dir=data_dir)))
Path(data_dir, f"ready-{name}").touch()
while not Path(go).exists():
    time.sleep(0.01)
for i in range(int(count)):
    log.record("system", "profile.read", subject=name, details={"i": i})
"""


def test_processes_appending_at_once_keep_one_chain(
    log: AuditLog, backend_settings: Settings, tmp_path: Path
) -> None:
    processes, each = 4, 25
    go = tmp_path / "go"
    url = backend_settings.resolved_database_url
    args = [str(tmp_path), "", str(each), str(go)]
    children = [
        subprocess.Popen([sys.executable, "-c", _APPENDER, url, *args[:1], f"p{n}", *args[2:]])
        for n in range(processes)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < processes and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    assert [child.wait(timeout=120) for child in children] == [0] * processes
    report = log.verify()
    assert report.ok and report.entries == processes * each
