"""Every file and folder shopwise writes is its owner's only, whatever the umask (issue 22).

Each test runs under umask 0, where ``open`` and ``mkdir`` would make world-readable files.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shopwise import store
from shopwise.cli._main import app
from shopwise.cli.demo import DEMO_KEYS, demo_keys
from shopwise.customers.segments import write_audience
from shopwise.files import PRIVATE_DIR, PRIVATE_FILE, private_dir, private_file
from shopwise.registry import ModelRegistry
from shopwise.runtime import Runtime
from shopwise.settings import Settings

PAGE_VIEW = {
    "message_id": "m1",
    "type": "page_viewed",
    "anonymous_id": "a1",
    "timestamp": "2026-01-01T00:00:00Z",
    "properties": {},
}


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime.build(Settings(data_dir=tmp_path / "var", log_level="WARNING"), migrate=True)
    rt.start()
    yield rt
    rt.stop()


def test_the_data_dir_and_the_sqlite_database_with_its_wal_and_shm(runtime: Runtime) -> None:
    result = runtime.collector.ingest([PAGE_VIEW])
    assert result.accepted == 1
    data_dir = runtime.settings.data_dir
    assert _mode(data_dir) == PRIVATE_DIR
    for name in ("shopwise.db", "shopwise.db-wal", "shopwise.db-shm"):
        assert (data_dir / name).exists(), name
        assert _mode(data_dir / name) == PRIVATE_FILE, name


def test_files_of_an_older_store_are_restricted_when_it_is_opened(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o755)
    for name in ("shopwise.db", "shopwise.db-wal", "shopwise.db-shm"):
        (data_dir / name).touch(mode=0o644)
    Runtime.build(Settings(data_dir=data_dir))  # nothing opened yet: SQLite keeps its files
    assert _mode(data_dir) == PRIVATE_DIR
    for name in ("shopwise.db", "shopwise.db-wal", "shopwise.db-shm"):
        assert _mode(data_dir / name) == PRIVATE_FILE, name


def test_a_database_named_by_url_leaves_its_existing_folder_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    settings = Settings(data_dir=tmp_path / "var", database_url=f"sqlite:///{shared}/shop.db")
    store.create_engine(settings).dispose()
    assert _mode(shared) == 0o755
    assert _mode(shared / "shop.db") == PRIVATE_FILE


def test_model_artifacts_their_folders_and_the_champion_pointer(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models", "recommenders")
    version = registry.save({"weights": [1, 2]}, {"kind": "test"})
    registry.rewrite(version, {"weights": [1]})
    for folder in (tmp_path / "models", registry.root, registry.root / version):
        assert _mode(folder) == PRIVATE_DIR, folder
    for path in (registry.root / version).iterdir():
        assert _mode(path) == PRIVATE_FILE, path
    assert _mode(registry.root / "champion.json") == PRIVATE_FILE
    assert registry.load(version) == {"weights": [1]}


def test_the_demo_keys_file(runtime: Runtime) -> None:
    keys = demo_keys(runtime)
    assert set(keys) == {"write", "secret", "admin"}
    assert _mode(runtime.settings.data_dir / DEMO_KEYS) == PRIVATE_FILE


def test_an_audience_export(tmp_path: Path) -> None:
    rows = pd.DataFrame({"hashed_email": ["ab"], "score": [0.5]})
    target = tmp_path / "audience.csv"
    assert write_audience(target, rows) == 1
    assert _mode(target) == PRIVATE_FILE
    assert target.read_text().splitlines() == ["hashed_email,score", "ab,0.500000"]


def test_a_person_export_written_by_the_cli(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the export needs the profile the page view makes: wait for the consumers to fold it
    assert runtime.bus.wait_until_consumed(runtime.collector.ingest([PAGE_VIEW]).last_event_id, 30)
    for name in [n for n in os.environ if n.startswith("SHOPWISE_")]:
        monkeypatch.delenv(name)  # the test servers' variables are no settings
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(runtime.settings.data_dir))
    target = tmp_path / "person.json"
    result = CliRunner().invoke(app, ["privacy", "export", "a1", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert _mode(target) == PRIVATE_FILE


def test_an_existing_file_is_restricted_and_never_truncated(tmp_path: Path) -> None:
    path = tmp_path / "kept"
    path.write_bytes(b"data")
    path.chmod(0o666)
    private_file(path)
    assert _mode(path) == PRIVATE_FILE
    assert path.read_bytes() == b"data"
    with pytest.raises(FileExistsError):
        private_dir(tmp_path, exist_ok=False)
