"""Request-time session candidates, remembered per history.

Scoring the session model ranks the whole catalog for one history; the same shopper asking again
before anything new happened has the same history, so the ranked candidates are kept for the
current champion artifact and reused while the history is asked for
(:class:`shopwise.recent.Recent`). A new event, cart item or product page changes the history,
hence the key, so fresh behaviour always reaches the answer. A replaced champion is
handed to :meth:`SessionCandidates.retire` by the thread that swapped it out, which drops its
lists there, not in the first request for the new one.
"""

from __future__ import annotations

import threading
import weakref

from shopwise.recent import Recent

Scored = list[tuple[str, float]]
"""(product id, score), best first."""


class SessionCandidates:
    """Scored session candidates by history, for one artifact at a time (a new one clears)."""

    def __init__(self, max_histories: int = 4096) -> None:
        self._artifact: weakref.ref[object] | None = None
        """Weak: a replaced champion is freed, not kept alive by its cached candidates."""
        self._lists: Recent[tuple[str, ...], Scored] = Recent(max_histories)
        self._lock = threading.Lock()

    def get(self, artifact: object, history: tuple[str, ...]) -> Scored | None:
        """The remembered candidates of ``artifact`` (do not modify them), or ``None``."""
        with self._lock:
            if self._artifact is None or self._artifact() is not artifact:
                return None
            return self._lists.get(history)

    def put(self, artifact: object, history: tuple[str, ...], scored: Scored) -> None:
        """Remember ``scored`` for ``artifact`` and ``history``.

        ``artifact`` is compared by identity (any weakly referenceable object); a different one
        than last time clears the cache.
        """
        with self._lock:
            if self._artifact is None or self._artifact() is not artifact:
                self._artifact = weakref.ref(artifact)
                self._lists.clear()
            self._lists.put(history, scored)

    def clear(self) -> None:
        """Forget every history (an erasure: a history is the erased person's behaviour)."""
        with self._lock:
            self._lists.clear()

    def retire(self, replaced: object) -> None:
        """Forget the lists of ``replaced``, an artifact just swapped out (others' stay)."""
        with self._lock:
            if self._artifact is not None and self._artifact() is replaced:
                self._artifact = None
                self._lists.clear()

    def __len__(self) -> int:
        return len(self._lists)
