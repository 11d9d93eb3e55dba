"""The SQLite write gate: writers of one database file queue in the kernel and between threads."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from shopwise import store
from shopwise.settings import Settings
from shopwise.store import _engine

HOLDER = """
import sys, time
from pathlib import Path
from shopwise import store
from shopwise.settings import Settings

engine = store.create_engine(Settings(data_dir=Path(sys.argv[1])))
with store.write_gate(engine):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    print(f"released {time.time()}", flush=True)
"""


@contextmanager
def _held_by_another_thread(engine: sa.Engine) -> Iterator[None]:
    """A thread of this process inside ``engine``'s gate for the block."""
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with store.write_gate(engine):
            held.set()
            done.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5)
        yield
    finally:
        done.set()
        holder.join(timeout=5)


@pytest.fixture
def backend_settings(tmp_path: Path) -> Settings:
    """SQLite only (the gate is SQLite's), for the store suite's ``engine`` fixture."""
    return Settings(data_dir=tmp_path / "var")


def test_a_writer_waits_for_another_process_inside_the_gate(
    backend_settings: Settings, engine: sa.Engine
) -> None:
    command = [sys.executable, "-c", HOLDER, str(backend_settings.data_dir), "0.5"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with store.write_transaction(engine) as conn:
            entered = time.time()
            conn.execute(sa.text("SELECT 1"))
        released = float(holder.stdout.readline().split()[1])
        assert holder.wait(timeout=10) == 0
    assert entered >= released


def test_threads_of_one_process_pass_one_at_a_time(engine: sa.Engine) -> None:
    inside: list[int] = []
    overlaps: list[int] = []

    def write(n: int) -> None:
        with store.write_transaction(engine) as conn:
            inside.append(n)
            if len(inside) > 1:
                overlaps.append(n)
            conn.execute(sa.text("SELECT 1"))
            time.sleep(0.02)
            inside.remove(n)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert overlaps == []


def test_the_gate_is_reentrant_in_one_thread(engine: sa.Engine) -> None:
    with store.write_gate(engine), store.write_transaction(engine) as conn:
        conn.execute(sa.text("SELECT 1"))


def test_a_thread_gives_up_after_the_busy_time_as_sqlite_would(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_engine, "BUSY_SECONDS", 0.1)
    locked = pytest.raises(sqlite3.OperationalError, match="database is locked")
    with _held_by_another_thread(engine), locked, store.write_transaction(engine):
        pass
    with store.write_transaction(engine) as conn:  # free again
        conn.execute(sa.text("SELECT 1"))


def test_the_gate_file_is_private(backend_settings: Settings, engine: sa.Engine) -> None:
    with store.write_transaction(engine) as conn:
        conn.execute(sa.text("SELECT 1"))
    gates = list(backend_settings.data_dir.glob("*-writers"))
    assert len(gates) == 1
    assert stat.S_IMODE(gates[0].stat().st_mode) == 0o600


def test_an_in_memory_database_has_no_gate_file(tmp_path: Path) -> None:
    memory = store.create_engine(Settings(data_dir=tmp_path / "var", database_url="sqlite://"))
    with store.write_transaction(memory) as conn:
        conn.execute(sa.text("SELECT 1"))
    assert not list(tmp_path.rglob("*-writers"))


def test_a_forked_child_queues_at_a_gate_of_its_own(engine: sa.Engine) -> None:
    """A child forked while a thread of the parent is inside the gate does not inherit that
    thread's hold: it waits for the parent's write, then writes."""
    with _held_by_another_thread(engine):
        child = os.fork()
        if child == 0:  # the child: write, and report by the exit status alone
            status = 1
            try:
                _engine.BUSY_SECONDS = 1
                with store.write_transaction(engine) as conn:
                    conn.execute(sa.text("SELECT 1"))
                status = 0
            finally:
                os._exit(status)
        time.sleep(0.3)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
