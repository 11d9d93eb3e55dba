"""The consumer's fold outside the write lock: what changed between its snapshot and the lock
(a profile written, an erasure, an identity stored) is never overwritten; the batch is folded
again under the lock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from tests.profiles.test_consumer import _stored, _view

from shopwise import store
from shopwise.bus import StoredEvent
from shopwise.profiles import Profiles, ProfileState, anon_key, profile_id_for, user_key
from shopwise.runtime import Runtime
from shopwise.settings import Settings


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime.build(Settings(data_dir=tmp_path), migrate=True)
    rt.writer.start()  # no bus: the tests feed the consumer themselves
    yield rt
    rt.writer.stop()


def _between(
    monkeypatch: pytest.MonkeyPatch, profiles: Profiles, meanwhile: Callable[[], None]
) -> list[bool]:
    """Run ``meanwhile`` after each snapshot fold, before the write lock; returns a list that
    records whether each snapshot was taken (not ``None``)."""
    snapshot = profiles._fold_snapshot
    taken: list[bool] = []

    def hooked(batch: list[StoredEvent]) -> object:
        planned = snapshot(batch)
        taken.append(planned is not None)
        meanwhile()
        return planned

    monkeypatch.setattr(profiles, "_fold_snapshot", hooked)
    return taken


def _views(runtime: Runtime, shopper: str) -> int:
    view = runtime.profiles.get(shopper)
    assert view is not None
    return view.state.counts.get("product_viewed", 0)


def test_a_profile_written_meanwhile_is_folded_again(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.collector.ingest([_view(0, "a1"), _view(1, "a1")])
    first, second = _stored(runtime)
    runtime.profiles.consume([first])
    profile = store.profiles.c.profile_id == profile_id_for(anon_key("a1"))

    def rectified_elsewhere() -> None:
        """Another writer changes the stored state (as a rectification would)."""
        with store.write_transaction(runtime.engine) as conn:
            stored = conn.execute(sa.select(store.profiles.c.state).where(profile)).scalar_one()
            state = ProfileState.from_json(stored)
            state.brands["written meanwhile"] = 1.0
            conn.execute(store.profiles.update().where(profile).values(state=state.to_json()))

    taken = _between(monkeypatch, runtime.profiles, rectified_elsewhere)
    runtime.profiles.consume([second])
    assert taken == [True]
    assert _views(runtime, "a1") == 2
    view = runtime.profiles.get("a1")
    assert view is not None and view.state.brands == {"written meanwhile": 1.0}


def test_an_erasure_meanwhile_is_not_undone(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new shopper's first event, erased after the snapshot: no profile comes back."""
    runtime.collector.ingest([_view(0, "a1")])
    (event,) = _stored(runtime)

    def erased() -> None:
        with store.write_transaction(runtime.engine) as conn:
            conn.execute(store.events.delete().where(store.events.c.anonymous_id == "a1"))

    taken = _between(monkeypatch, runtime.profiles, erased)
    runtime.profiles.consume([event])
    assert taken == [True]
    assert runtime.profiles.get("a1") is None
    with runtime.engine.connect() as conn:
        for table in (store.profiles, store.identities):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0


def test_an_identity_stored_meanwhile_owns_the_event(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.collector.ingest([_view(0, "new")])
    (event,) = _stored(runtime)
    owner = profile_id_for(user_key("someone"))

    def linked_elsewhere() -> None:
        with store.write_transaction(runtime.engine) as conn:
            conn.execute(
                store.identities.insert().values(
                    id_key=anon_key("new"), profile_id=owner, link_user="someone", created_at=1
                )
            )

    taken = _between(monkeypatch, runtime.profiles, linked_elsewhere)
    runtime.profiles.consume([event])
    assert taken == [True]
    with runtime.engine.connect() as conn:
        rows = conn.execute(sa.select(store.profiles.c.profile_id, store.profiles.c.state)).all()
    assert [(p, orjson.loads(orjson.dumps(s))["watermark"]) for p, s in rows] == [(owner, 1)]


def test_a_batch_that_links_identities_is_folded_under_the_lock(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    identify = {**_view(0, "a1"), "user_id": "u1"}
    runtime.collector.ingest([identify])
    taken = _between(monkeypatch, runtime.profiles, lambda: None)
    runtime.profiles.consume(_stored(runtime))
    assert taken == [False]
    assert _views(runtime, "u1") == 1
