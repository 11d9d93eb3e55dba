"""Session candidates remembered per artifact and history."""

from __future__ import annotations

from shopwise.serving._sessions import SessionCandidates


class Artifact:
    """Stands in for a model artifact (only its identity matters to the cache)."""


def test_session_candidates_are_kept_per_artifact_and_history() -> None:
    cache = SessionCandidates(max_histories=2)
    first, second = Artifact(), Artifact()
    cache.put(first, ("a",), [("b", 1.0)])
    assert cache.get(first, ("a",)) == [("b", 1.0)]
    assert cache.get(first, ("a", "b")) is None
    assert cache.get(second, ("a",)) is None
    cache.put(second, ("c",), [("d", 1.0)])
    assert cache.get(first, ("a",)) is None and len(cache) == 1
    cache.put(second, ("e",), [])
    cache.put(second, ("f",), [])
    assert len(cache) == 2 and cache.get(second, ("c",)) is None
