"""The identity graph's batch insert of new identities (ON CONFLICT), on every store backend."""

from __future__ import annotations

import sqlalchemy as sa

from shopwise import store
from shopwise.profiles import IdentityGraph, anon_key, profile_id_for, user_key


def _stored(engine: sa.Engine) -> dict[str, str]:
    ids = store.identities.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ids.id_key, ids.profile_id)).all()
    return {str(key): str(profile) for key, profile in rows}


def test_new_identities_are_rooted_at_themselves_and_known_ones_kept(engine: sa.Engine) -> None:
    graph = IdentityGraph()
    new, known = anon_key("new"), user_key("known")
    with store.write_transaction(engine) as conn:
        cache = graph.preload(conn, {known})
        graph.ensure_all(conn, {new}, cache)
    with store.write_transaction(engine) as conn:
        cache = graph.preload(conn, {new, known})
        graph.ensure_all(conn, {new, known}, cache)
    expected = {new: profile_id_for(new), known: profile_id_for(known)}
    assert cache == expected
    assert _stored(engine) == expected


def test_an_identity_stored_meanwhile_keeps_its_profile(engine: sa.Engine) -> None:
    """Another consumer stored the id, linked to a user, after this batch's preload: the stored
    row wins, not a new root."""
    graph = IdentityGraph()
    linked, fresh = anon_key("linked"), anon_key("fresh")
    owner = profile_id_for(user_key("someone"))
    with store.write_transaction(engine) as conn:
        conn.execute(
            store.identities.insert().values(id_key=linked, profile_id=owner, created_at=1)
        )
    with store.write_transaction(engine) as conn:
        cache: dict[str, str] = {}  # as if preloaded before the other consumer's commit
        graph.ensure_all(conn, {linked, fresh}, cache)
    assert cache == {linked: owner, fresh: profile_id_for(fresh)}
    assert _stored(engine) == cache
