"""The group-commit writer: unheard submissions are stored without a word to the listeners."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa

from shopwise.bus import StoredEvent
from shopwise.collect import system_row
from shopwise.collect._writer import (
    ROWS_PER_STATEMENT,
    GroupCommitWriter,
    _chunk_sizes,
    _rows_per_statement,
)
from shopwise.runtime import Runtime
from shopwise.schema import EventType
from shopwise.settings import Settings
from shopwise.store import events


def _row(i: int) -> dict[str, object]:
    row = system_row(
        f"exp-{i}", EventType.RECOMMENDATION_VIEWED, f"a{i}", None, 1_000 + i, {"x": i}
    )
    return {**row, "received_at": 2_000, "key_id": None}


def test_unheard_rows_are_stored_but_not_handed_to_the_listeners(tmp_path: Path) -> None:
    runtime = Runtime.build(Settings(data_dir=tmp_path), migrate=True)
    heard: list[str] = []

    def listener(committed: Sequence[StoredEvent]) -> None:
        heard.extend(e.message_id for e in committed)

    writer = GroupCommitWriter(runtime.engine, on_commit=listener)
    writer.start()
    try:
        quiet = writer.submit([_row(1), _row(2)], [], heard=False).result(timeout=10)
        loud = writer.submit([_row(3)], []).result(timeout=10)
        again = writer.submit([_row(1)], [], heard=False).result(timeout=10)  # no ids read back
    finally:
        writer.stop()
    assert quiet.stored == again.stored == [] and quiet.duplicates == 0
    assert [e.message_id for e in loud.stored] == ["exp-3"]
    assert heard == ["exp-3"]
    with runtime.engine.connect() as conn:
        stored = conn.execute(sa.select(events.c.message_id).order_by(events.c.id)).scalars()
        assert list(stored) == ["exp-1", "exp-2", "exp-3"]  # the repeated exp-1 skipped


def test_a_batch_of_any_size_is_stored_whole_in_power_of_two_statements(tmp_path: Path) -> None:
    runtime = Runtime.build(Settings(data_dir=tmp_path), migrate=True)
    writer = GroupCommitWriter(runtime.engine, on_commit=lambda _events: None)
    writer.start()
    try:
        loud = writer.submit([_row(i) for i in range(3_001)], []).result(timeout=30)
        writer.submit([_row(i) for i in range(3_001, 8_000)], [], heard=False).result(timeout=30)
    finally:
        writer.stop()
    assert [e.message_id for e in loud.stored] == [f"exp-{i}" for i in range(3_001)]
    assert len({e.id for e in loud.stored}) == 3_001
    with runtime.engine.connect() as conn:
        rows = conn.execute(sa.select(events.c.message_id, events.c.properties)).all()
    assert len(rows) == 8_000
    assert {message: props["x"] for message, props in rows} == {f"exp-{i}": i for i in range(8_000)}


def test_statement_sizes_are_powers_of_two_largest_first() -> None:
    assert list(_chunk_sizes(5_000, 2_978)) == [2_048, 2_048, 512, 256, 128, 8]
    assert list(_chunk_sizes(7, 2)) == [2, 2, 2, 1]
    assert list(_chunk_sizes(0, 100)) == []


def test_a_statement_holds_few_rows_so_binding_them_never_stalls_the_event_loop() -> None:
    width = 11  # the event columns an insert names
    assert _rows_per_statement(width) == ROWS_PER_STATEMENT == 256
    assert list(_chunk_sizes(5_000, _rows_per_statement(width))) == [256] * 19 + [128, 8]
    assert _rows_per_statement(200) == 32_766 // 200  # SQLite's limit on variables still holds
