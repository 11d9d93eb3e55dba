"""The group-commit writer: unheard submissions are stored without a word to the listeners."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa

from shopwise.bus import StoredEvent
from shopwise.collect import system_row
from shopwise.collect._writer import GroupCommitWriter
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
    runtime = Runtime.build(Settings(data_dir=tmp_path, environment="test"), migrate=True)
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
