"""The event bus: one Protocol; embedded (event-table backed) now, Redis Streams to scale out."""

from shopwise.bus._embedded import EmbeddedBus
from shopwise.bus._protocol import Bus, Handler, StoredEvent
from shopwise.bus._redis import RedisBusConfig, RedisStreamBus, partition_of, shopper_key

__all__ = [
    "Bus",
    "EmbeddedBus",
    "Handler",
    "RedisBusConfig",
    "RedisStreamBus",
    "StoredEvent",
    "partition_of",
    "shopper_key",
]
