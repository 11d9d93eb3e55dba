"""The precomputed lists in the store (:class:`CandidateLists`), on SQLite and PostgreSQL.

A list is written only for a profile still stored and canonical, and a write that meets an
erasure in flight waits for it and then writes nothing for the erased person.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa

from shopwise.recommend.lists import CandidateLists
from shopwise.store import profiles, write_transaction


def _profiles(engine: sa.Engine, *ids: str, merged_into: str | None = None) -> None:
    rows: list[dict[str, Any]] = [
        {"profile_id": p, "state": {}, "merged_into": merged_into, "updated_at": 0} for p in ids
    ]
    with engine.begin() as conn:
        conn.execute(profiles.insert(), rows)


def test_a_list_is_written_only_for_a_stored_canonical_profile(engine: sa.Engine) -> None:
    _profiles(engine, "p1", "p2")
    _profiles(engine, "p3", merged_into="p1")
    lists = CandidateLists(engine)
    ranked = {p: (["a", "b"], [0.75, 0.1]) for p in ("p1", "p2", "p3", "gone")}
    assert lists.write("v1", ranked, computed_at=5) == 2
    stored = lists.get("v1", "p1")
    assert stored is not None
    assert (stored.items, stored.computed_at) == (["a", "b"], 5)
    assert stored.scores[0] == 0.75 and abs(stored.scores[1] - 0.1) < 1e-7  # float32
    assert lists.get("v1", "p3") is None and lists.get("v1", "gone") is None
    assert lists.get("v2", "p1") is None
    assert set(lists.read_all("v1")) == {"p1", "p2"}


def test_a_write_replaces_the_profiles_rows_of_its_version_only(engine: sa.Engine) -> None:
    _profiles(engine, "p1", "p2")
    lists = CandidateLists(engine)
    lists.write("v1", {"p1": (["a"], [1.0]), "p2": (["b"], [1.0])}, computed_at=1)
    lists.write("v2", {"p1": (["c"], [1.0])}, computed_at=1)
    lists.write("v1", {"p1": (["d"], [2.0])}, computed_at=2)
    assert {p: s.items for p, s in lists.read_all("v1").items()} == {"p1": ["d"], "p2": ["b"]}
    assert {p: s.items for p, s in lists.read_all("v2").items()} == {"p1": ["c"]}


def test_what_a_refresh_drops(engine: sa.Engine) -> None:
    _profiles(engine, "p1", "p2", "p3", "p4")
    lists = CandidateLists(engine)
    lists.write("v1", {p: (["a"], [1.0]) for p in ("p1", "p2", "p3")}, computed_at=10)
    lists.write("v1", {"p4": (["a"], [1.0])}, computed_at=20)
    lists.write("v0", {"p1": (["a"], [1.0])}, computed_at=1)
    assert lists.drop("v1", ["p1"]) == 1
    assert lists.drop_stale("v1", before=20) == 2  # p2, p3: not rewritten by a pass from 20
    with engine.begin() as conn:
        conn.execute(profiles.update().where(profiles.c.profile_id == "p4").values(merged_into="x"))
    assert lists.drop_gone("v1") == 1
    assert lists.count("v1") == 0 and lists.count("v0") == 1
    assert lists.keep_versions(["v1"]) == 1 and lists.count("v0") == 0


def test_a_write_waits_for_an_erasure_in_flight_and_skips_the_erased(engine: sa.Engine) -> None:
    _profiles(engine, "p1", "p2")
    lists = CandidateLists(engine)
    written: list[int] = []
    with write_transaction(engine) as erasure:
        erasure.execute(profiles.delete().where(profiles.c.profile_id == "p1"))
        writer = threading.Thread(
            target=lambda: written.append(
                lists.write("v1", {"p1": (["a"], [1.0]), "p2": (["a"], [1.0])}, computed_at=1)
            )
        )
        writer.start()
        time.sleep(0.5)
        assert not written  # held until the erasure commits
    writer.join(timeout=30)
    assert written == [1]
    assert set(lists.read_all("v1")) == {"p2"}
