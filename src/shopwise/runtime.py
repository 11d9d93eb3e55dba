"""The services of one shopwise process, built from :class:`Settings`, for API, CLI and worker.

Nothing here knows about HTTP: the API's routers and the CLI's commands both call these services.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa

from shopwise import store
from shopwise._redis_events import (
    AnnouncedCatalog,
    AnnouncedKeys,
    AnnouncedVersions,
    Changes,
    announced_rights,
    listen,
)
from shopwise.audit import AuditLog
from shopwise.auth import KeyService, RateLimits, shared_rate_limits
from shopwise.bus import Bus, EmbeddedBus, RedisBusConfig, RedisStreamBus, StoredEvent
from shopwise.catalog import Catalog
from shopwise.collect import (
    Collector,
    DeadLetters,
    GroupCommitWriter,
    Minimizer,
    Sessionizer,
    shared_sessionizer,
)
from shopwise.decide import ContentSet, RuleSet, VersionedStore, content_store, rule_store
from shopwise.experiments import ExperimentAssigner, Experiments, References, ThompsonSampler
from shopwise.files import private_dir
from shopwise.privacy import ConsentPolicy, PiiCipher, Suppression
from shopwise.profiles import CONSUMER, IdentityVerifier, Profiles
from shopwise.recommend import Precomputed, RecommenderArtifact
from shopwise.recommend.lists import CandidateLists
from shopwise.registry import Champion, ModelRegistry
from shopwise.rights import SubjectRights, unit_ids
from shopwise.schema import SYSTEM_EVENT_TYPES
from shopwise.serving import (
    AnswerCache,
    ExposureLog,
    ModelVersions,
    OnlineState,
    RecommendationRequest,
    Recommendations,
    Served,
    exposure_rows,
)
from shopwise.settings import Settings

if TYPE_CHECKING:
    from shopwise.customers import CustomerIntelligence

KEEP_LISTS = 8
"""Precomputed-list records kept besides the champion's; the store keeps the lists of every
recommender version a kept record ranked with, and deletes the others."""


@dataclass
class Runtime:
    """Long-lived services of a process; :meth:`start` and :meth:`stop` run their threads."""

    settings: Settings
    engine: sa.Engine
    audit: AuditLog
    """Who read personal data and who changed consent, rules, content and keys."""
    keys: KeyService
    limits: RateLimits
    """Request rate limits per key, per shopper of a public key, per address of invalid keys."""
    bus: Bus
    writer: GroupCommitWriter
    collector: Collector
    dead_letters: DeadLetters
    catalog: Catalog
    profiles: Profiles
    online: OnlineState
    recommenders: ModelRegistry
    champion: Champion[RecommenderArtifact]
    precomputed_registry: ModelRegistry
    precomputed: Champion[Precomputed]
    candidate_lists: CandidateLists
    """The shoppers' precomputed lists, in the store."""
    rules: VersionedStore[RuleSet]
    content: VersionedStore[ContentSet]
    consent: ConsentPolicy
    """What each purpose needs (``SHOPWISE_CONSENT_*``): every use of personal data asks it."""
    cipher: PiiCipher
    """Seals PII trait values at rest and opens them for those allowed to read them."""
    recommendations: Recommendations
    exposures: ExposureLog[tuple[RecommendationRequest, Served]]
    """Serving's exposure events, batched to the collector by a background thread."""
    rights: SubjectRights
    """Exports and erasures of a person."""
    experiments: Experiments
    """A/B tests and bandits: defined, started and stopped here; ``assigner`` serves them."""
    assigner: ExperimentAssigner
    """Which variant of a running experiment each shopper sees (sticky, off the request path)."""
    score_provider: Callable[[str], dict[str, float]] | None = None
    """Overrides where decision thresholds read scores (default: :attr:`customers`)."""
    changes: Changes | None = None
    """Change announcements between processes through Redis (``SHOPWISE_REDIS_URL``)."""

    @classmethod
    def build(cls, settings: Settings, migrate: bool = False) -> Runtime:
        """Connect to the store (migrating it first when ``migrate`` and it is not current)."""
        private_dir(settings.data_dir)
        engine = store.create_engine(settings)
        if migrate and not store.is_current(engine):
            store.upgrade(engine)
        bus: Bus = (
            RedisStreamBus(
                engine, RedisBusConfig(url=str(settings.redis_url), prefix=settings.redis_prefix)
            )
            if settings.redis_url is not None
            else EmbeddedBus(engine)
        )
        audit = AuditLog(engine)
        consent = ConsentPolicy.from_settings(settings)
        cipher = PiiCipher(engine, settings.secret_key.get_secret_value().encode())
        suppression = Suppression(engine, cipher.key_hash)
        online = OnlineState(idle_seconds=settings.session_idle_minutes * 60)
        changes = (
            Changes(str(settings.redis_url), settings.redis_prefix)
            if settings.redis_url is not None
            else None
        )
        catalog = (
            Catalog(engine)
            if changes is None
            else AnnouncedCatalog(engine, changes.announcer("catalog"))
        )
        profiles = Profiles(engine, item_info=catalog.item_info)

        def on_commit(committed: Sequence[StoredEvent]) -> None:
            recommendations.committed(committed)
            profiles.cache.stored(_profile_changes(committed))
            bus.publish(committed)

        writer = GroupCommitWriter(engine, on_commit=on_commit)
        collector = Collector(
            writer,
            (
                shared_sessionizer(settings, str(settings.redis_url), prefix=settings.redis_prefix)
                if settings.redis_url is not None
                else Sessionizer(settings.session_idle_minutes)
            ),
            suppression.suppressed,
            Minimizer(settings.extra_properties),
            cipher,
            IdentityVerifier.from_settings(settings),
        )
        bus.subscribe(CONSUMER, profiles.consume, ignore=SYSTEM_EVENT_TYPES)
        recommenders = ModelRegistry(settings.models_dir, "recommenders")
        champion: Champion[RecommenderArtifact] = Champion(recommenders, validate=_artifact)
        precomputed_registry = ModelRegistry(settings.models_dir, "candidates", keep=KEEP_LISTS)
        precomputed: Champion[Precomputed] = Champion(precomputed_registry, validate=_precomputed)
        candidate_lists = CandidateLists(engine)
        rules, content = (
            (rule_store(engine), content_store(engine))
            if changes is None
            else (
                AnnouncedVersions(engine, "rules", RuleSet, changes.announcer("rules")),
                AnnouncedVersions(engine, "content", ContentSet, changes.announcer("content")),
            )
        )
        exposures: ExposureLog[tuple[RecommendationRequest, Served]] = ExposureLog(
            exposure_rows, collector.enqueue_system
        )
        assigner = ExperimentAssigner(
            engine,
            segments=lambda profile_id: runtime.segments(profile_id),
            draw=ThompsonSampler(engine, consent, window_hours=settings.attribution_window_hours),
        )
        variant_models = ModelVersions(recommenders)
        recommendations = Recommendations(
            catalog,
            profiles,
            online,
            champion,
            precomputed,
            candidate_lists,
            rules,
            content,
            consent,
            exposure=exposures,
            answers=AnswerCache(settings.answer_cache_size),
            assign=assigner,
            models=variant_models,
        )
        rights = (SubjectRights if changes is None else announced_rights(changes))(
            engine,
            profiles,
            cipher,
            suppression,
            audit,
            [recommenders, precomputed_registry],
            [champion],
        )
        rights.add_cache(
            "profile cache",
            profiles.cache.clear,
            lambda person: profiles.cache.holds(person.ids, person.profile_ids),
        )
        rights.add_cache(
            "serving memory",
            recommendations.clear_memory,
            lambda person: recommendations.holds(person.anonymous_ids, person.user_ids),
        )
        rights.add_cache(
            "experiment assignments",
            holds=lambda person: assigner.holds(unit_ids(person)),
            forget=assigner.forget,
        )
        rights.add_cache(
            "variant models",
            variant_models.clear,
            lambda person: variant_models.holds(person.profile_ids),
        )
        runtime = cls(
            settings=settings,
            engine=engine,
            audit=audit,
            keys=(
                KeyService(engine, audit)
                if changes is None
                else AnnouncedKeys(engine, audit, changes.announcer("keys"))
            ),
            limits=(
                shared_rate_limits(settings, str(settings.redis_url), prefix=settings.redis_prefix)
                if settings.redis_url is not None
                else RateLimits.from_settings(settings)
            ),
            bus=bus,
            writer=writer,
            collector=collector,
            dead_letters=DeadLetters(engine, collector),
            catalog=catalog,
            profiles=profiles,
            online=online,
            recommenders=recommenders,
            champion=champion,
            precomputed_registry=precomputed_registry,
            precomputed=precomputed,
            candidate_lists=candidate_lists,
            rules=rules,
            content=content,
            consent=consent,
            cipher=cipher,
            recommendations=recommendations,
            exposures=exposures,
            rights=rights,
            experiments=Experiments(
                engine,
                changed=assigner.reload,
                references=References(recommenders, rules, content),
            ),
            assigner=assigner,
            changes=changes,
        )
        if changes is not None:
            listen(
                changes,
                catalog=catalog,
                rules=rules,
                content=content,
                keys=runtime.keys,
                rights=rights,
            )
        return runtime

    def scores(self, any_id: str | None) -> dict[str, float]:
        """The shopper's current model scores (propensities) by name, for decision thresholds."""
        if any_id is None:
            return {}
        if self.score_provider is not None:
            return self.score_provider(any_id)
        return self.customers.scores.scores_of(any_id)

    def segments(self, any_id: str | None) -> tuple[str, ...]:
        """The shopper's segment and audience names, for content audience conditions."""
        if any_id is None:
            return ()
        return self.customers.scores.segments_of(any_id)

    @functools.cached_property
    def customers(self) -> CustomerIntelligence:
        """Customer models (propensity, CLV, segments) over this runtime's store.

        Built on first use: the customer models' libraries are imported only by the processes
        and commands that read or train them.
        """
        from shopwise.customers import CustomerIntelligence

        return CustomerIntelligence.build(
            self.engine,
            self.profiles,
            self.settings.models_dir,
            policy=self.consent,
            cipher=self.cipher,
            item_info=self.catalog.item_info,
        )

    def start(self, consumers: bool = True) -> None:
        """Start the writer, model reloads and (unless a worker runs them) the bus consumers."""
        self.writer.start()
        self.keys.start()
        self.exposures.start()
        # without the consumers here, profile states are written elsewhere: a short cache ttl.
        # On Redis Streams a process folds only the partitions it leases, and a lease moves
        # between processes, so every process's profile states may be written by another
        self.profiles.cache.written_through(consumers and isinstance(self.bus, EmbeddedBus))
        if consumers:
            self.bus.start()
        self.champion.start()
        self.precomputed.start()
        self.rights.start()
        self.assigner.start()
        if self.changes is not None:
            self.changes.start()

    def stop(self) -> None:
        """Drain the writer, stop consumers and release connections."""
        if self.changes is not None:
            self.changes.stop()
        self.assigner.stop()
        self.rights.stop()
        self.keys.stop()
        self.champion.stop()
        self.precomputed.stop()
        self.exposures.stop()
        self.writer.stop()
        self.bus.stop()
        self.engine.dispose()


def _profile_changes(committed: Sequence[StoredEvent]) -> list[str]:
    """The ids whose profiles these events change as serving sees them (exposures do not)."""
    ids: list[str] = []
    for event in committed:
        if event.type not in SYSTEM_EVENT_TYPES:
            ids += [i for i in (event.anonymous_id, event.user_id) if i is not None]
    return ids


def _artifact(value: Any) -> RecommenderArtifact:
    if not isinstance(value, RecommenderArtifact):
        raise TypeError(f"expected a RecommenderArtifact, got {type(value).__name__}")
    return value


def _precomputed(value: Any) -> Precomputed:
    if not isinstance(value, Precomputed):
        raise TypeError(f"expected Precomputed candidates, got {type(value).__name__}")
    if "lists" in vars(value):
        raise TypeError(
            "a record of an earlier version that holds the lists: a full refresh follows"
        )
    return value


GC_THRESHOLDS: Final = (2000, 10, 1000)
"""Young-generation allocations, then young passes per middle pass, middle passes per full."""


@contextmanager
def long_lived_gc() -> Iterator[None]:
    """Make the cyclic garbage collector cheap and rare while a server or worker runs.

    What startup loaded (models, precomputed lists) lives as long as the process, yet every full
    collection walked all of it, often enough to weigh on a recommendation's CPU and p99, and in
    a worker to stall a profile fold while it held the store's write lock. So garbage is
    collected once, the survivors are frozen (left out of later passes; acyclic objects are
    still freed when released), and the thresholds are raised so that young passes stay short
    and full passes become rare (``benchmarks/serve.py`` and ``benchmarks/ingest_variants.py``
    measured the choice; see ``docs/performance.md``). Undone on exit (apps started and stopped
    in one process, as in tests).
    """
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*previous)
