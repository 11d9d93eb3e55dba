"""The event bus contract: accepted events flow from the collector to consumers.

Delivery is at least once, in event-id order per consumer; consumers are idempotent (they key their
effects by event id or message id). Each consumer has a durable name and resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An accepted event as consumers see it (times in epoch milliseconds)."""

    id: int
    message_id: str
    type: str
    anonymous_id: str | None
    user_id: str | None
    session_id: str | None
    timestamp: int
    received_at: int
    product_id: str | None
    context: dict[str, Any]
    properties: dict[str, Any]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredEvent:
        return cls(**{name: row[name] for name in cls.__slots__})


Handler = Callable[[Sequence[StoredEvent]], None]


class Bus(Protocol):
    """Publishes committed events and feeds named consumers."""

    def publish(self, events: Sequence[StoredEvent]) -> None:
        """Announce events that are already committed to the event store."""
        ...

    def subscribe(
        self,
        consumer: str,
        handler: Handler,
        batch_size: int = 500,
        ignore: frozenset[str] = frozenset(),
    ) -> None:
        """Register ``handler`` under the durable name ``consumer`` (before :meth:`start`).

        Events whose type is in ``ignore`` are never handed to ``handler``, but the consumer's
        position still moves past them.
        """
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def position(self, consumer: str) -> int:
        """The id of the last event ``consumer`` has processed (0 before any)."""
        ...

    def wait_until_consumed(self, event_id: int, timeout: float = 5.0) -> bool:
        """Block until every consumer has processed ``event_id``; ``False`` on timeout."""
        ...
