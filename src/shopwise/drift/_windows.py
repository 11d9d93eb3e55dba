"""The two windows a drift check compares: the champion's training window and a recent one.

The reference is the window the recommender champion was trained on: its ``meta.json``'s
``data_window`` (``start_ms``, ``end_ms``) when the version records one, else the
``reference_days`` before it was saved (``saved_at``, or the artifact's ``trained_at``). The recent
window is the last ``recent_days`` before now, starting no earlier than the reference ends, so the
two never share an event: right after a retraining the recent window is short, holds too few events
to test, and a drift that caused the retraining is not reported (and acted on) again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

DAY_MS: Final = 24 * 3600 * 1000


@dataclass(frozen=True)
class Window:
    """Epoch-ms interval ``[start_ms, end_ms)`` and where its bounds came from."""

    start_ms: int
    end_ms: int
    source: str

    def holds(self, timestamp: int) -> bool:
        return self.start_ms <= timestamp < self.end_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": _iso(self.start_ms),
            "end": _iso(self.end_ms),
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "source": self.source,
        }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _ms(value: Any) -> int | None:
    """Epoch ms from an ISO-8601 string or a number of ms; ``None`` when absent or unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            return None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return int(stamp.timestamp() * 1000)
    return None


def reference_window(meta: dict[str, Any], reference_days: float) -> Window | None:
    """The champion's training window from its ``meta`` (see the module docstring); ``None``
    when the meta names neither a data window nor when it was saved or trained."""
    recorded = meta.get("data_window")
    if isinstance(recorded, dict):
        start, end = _ms(recorded.get("start_ms")), _ms(recorded.get("end_ms"))
        if start is not None and end is not None and start < end:
            # end_ms is the last event trained on: the window holds it
            return Window(start, end + 1, "data_window")
    for key in ("saved_at", "trained_at"):
        end = _ms(meta.get(key))
        if end is not None:
            return Window(end - int(reference_days * DAY_MS), end, key)
    return None


def recent_window(reference: Window, now_ms: int, recent_days: float) -> Window:
    """The ``recent_days`` before ``now_ms``, starting no earlier than ``reference`` ends."""
    start = max(now_ms - int(recent_days * DAY_MS), reference.end_ms)
    return Window(min(start, now_ms), now_ms, "recent_days")
