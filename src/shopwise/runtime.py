"""The services of one shopwise process, built from :class:`Settings`, for API, CLI and worker.

Nothing here knows about HTTP: the API's routers and the CLI's commands both call these services.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from shopwise import store
from shopwise.auth import KeyService, RateLimiter
from shopwise.bus import Bus, EmbeddedBus
from shopwise.catalog import Catalog
from shopwise.collect import Collector, DeadLetters, GroupCommitWriter, Sessionizer
from shopwise.profiles import CONSUMER, Profiles
from shopwise.settings import Settings


@dataclass
class Runtime:
    """Long-lived services of a process; :meth:`start` and :meth:`stop` run their threads."""

    settings: Settings
    engine: sa.Engine
    keys: KeyService
    limiter: RateLimiter
    bus: Bus
    writer: GroupCommitWriter
    collector: Collector
    dead_letters: DeadLetters
    catalog: Catalog
    profiles: Profiles

    @classmethod
    def build(cls, settings: Settings, migrate: bool = False) -> Runtime:
        """Connect to the store (migrating it first when ``migrate`` and it is not current)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = store.create_engine(settings)
        if migrate and not store.is_current(engine):
            store.upgrade(engine)
        bus = EmbeddedBus(engine)
        writer = GroupCommitWriter(engine, on_commit=bus.publish)
        collector = Collector(writer, Sessionizer(settings.session_idle_minutes))
        catalog = Catalog(engine)
        profiles = Profiles(engine, item_info=catalog.item_info)
        bus.subscribe(CONSUMER, profiles.consume)
        return cls(
            settings=settings,
            engine=engine,
            keys=KeyService(engine),
            limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            bus=bus,
            writer=writer,
            collector=collector,
            dead_letters=DeadLetters(engine, collector),
            catalog=catalog,
            profiles=profiles,
        )

    def start(self) -> None:
        """Start the writer and the bus consumers."""
        self.writer.start()
        self.bus.start()

    def stop(self) -> None:
        """Drain the writer, stop consumers and release connections."""
        self.writer.stop()
        self.bus.stop()
        self.engine.dispose()
