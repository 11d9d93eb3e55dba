"""The event bus: one Protocol; embedded (event-table backed) now, Redis Streams to scale out."""

from shopwise.bus._embedded import EmbeddedBus
from shopwise.bus._protocol import Bus, Handler, StoredEvent

__all__ = ["Bus", "EmbeddedBus", "Handler", "StoredEvent"]
