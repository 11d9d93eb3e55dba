"""The verified-key cache: what invalidates it, and that it never holds a key in plain text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from shopwise import store
from shopwise.audit import AuditLog
from shopwise.auth import ApiKey, KeyKind, KeyService
from shopwise.errors import AuthError
from shopwise.settings import Settings


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = store.create_engine(Settings(data_dir=tmp_path))
    store.upgrade(eng)
    yield eng
    eng.dispose()


def _service(engine: sa.Engine) -> KeyService:
    return KeyService(engine, AuditLog(engine), cache_seconds=60.0)


def test_a_watch_drops_keys_revoked_by_another_service(engine: sa.Engine) -> None:
    here, there = _service(engine), _service(engine)
    key, plaintext = there.create(KeyKind.WRITE)
    kept, kept_plaintext = there.create(KeyKind.WRITE)
    here.watch()  # the first check learns the marker
    assert here.verify(plaintext).id == key.id
    assert here.verify(kept_plaintext).id == kept.id
    assert not here.watch()  # nothing revoked: the marker did not move
    there.revoke(key.id)
    assert here.watch()
    with pytest.raises(AuthError):
        here.verify(plaintext)
    assert here.verify(kept_plaintext).id == kept.id


def test_a_key_loaded_while_it_is_revoked_is_not_cached(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = _service(engine), _service(engine)
    here.start()
    key, plaintext = there.create(KeyKind.WRITE)
    load = here._load

    def slow_load(digest: str) -> ApiKey | None:
        loaded = load(digest)  # read before the revocation commits
        there.revoke(key.id)
        here.watch()
        return loaded

    monkeypatch.setattr(here, "_load", slow_load)
    assert here.verify(plaintext).id == key.id  # this request raced the revocation
    monkeypatch.setattr(here, "_load", load)
    with pytest.raises(AuthError):
        here.verify(plaintext)
    here.stop()


def test_the_cache_holds_digests_never_keys(engine: sa.Engine) -> None:
    service = _service(engine)
    _key, plaintext = service.create(KeyKind.SECRET)
    service.verify(plaintext)
    assert plaintext not in service._cache
    assert all(len(digest) == 64 and plaintext not in digest for digest in service._cache)


def test_a_failed_check_drops_every_cached_key(engine: sa.Engine) -> None:
    service = _service(engine)
    _key, plaintext = service.create(KeyKind.SECRET)
    service.start()
    service.verify(plaintext)
    service.stop()
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE api_keys RENAME TO api_keys_away"))
    assert not service.watch()
    assert service.watch_errors == 1
    assert service._cache == {}
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE api_keys_away RENAME TO api_keys"))
