"""The Prometheus metrics of one API app: counted in memory on the request path, read from the
store and the model registry only when scraped.

Counted per process (:class:`ApiMetrics`): every request by method, route template (never the
path, so a shopper's id never becomes a label and the series stay bounded) and status class, with
its latency; every recommendation answer by its fallback, and its degradations by reason code;
every ingested batch's accepted, duplicate, suppressed and rejected (dead-lettered) events, the
rejected by reason code. Counting takes a dictionary lookup and a locked increment; nothing on
the request path touches the database.

Read at scrape (:class:`StoreReadings`, a custom collector): job runs by job and status, the
unfinished ones and the age of each job's last success (``job_runs``, read incrementally: see
:class:`_JobTally`); how far each bus consumer is behind the head of the event log, in events
and in seconds (``bus_offsets``); pending dead letters by reason code; each model family's
champion version and its age (the registry's files). These describe the store every process
shares, so every process answers the same for them.

Each app has its own :class:`~prometheus_client.CollectorRegistry` (never the library's global
one), so tests that build several apps do not collide. With several server processes each process
counts its own requests: Prometheus scrapes every process separately and sums them in queries.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final, NamedTuple

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector as PrometheusCollector
from starlette.requests import Request

from shopwise.collect import IngestResult
from shopwise.registry import CHAMPION, ModelRegistry
from shopwise.schema import Columns
from shopwise.store import bus_offsets, dead_letters, events, job_runs

log = logging.getLogger("shopwise.api")

HTTP_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods kept as their own label value; any other is counted as ``other`` (a client chooses
the method, and a label must not grow with what clients send)."""
LATENCY_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (seconds) of the request latency histogram: fine at the low end, where the
recommendation and ingestion routes answer, and wide enough for the admin routes."""
NO_FALLBACK: Final = "none"
"""The ``fallback`` label of an answer that no fallback completed."""
SUCCEEDED: Final = "succeeded"
"""The status the worker's scheduler records for a run that succeeded (``shopwise.worker``)."""
SETTLE_SECONDS: Final = 300.0
"""How long after its last write a finished job run is settled for good (see
:class:`_JobTally`): far longer than any one-row insert stays uncommitted."""


class ApiMetrics:
    """The metrics of one app, in their own registry (see the module docstring).

    Parameters
    ----------
    engine
        The store read at scrape (job runs, bus offsets, dead letters).
    models_dir
        The model registry's folder (one sub-folder per family).
    """

    def __init__(self, engine: sa.Engine, models_dir: Path) -> None:
        self.registry = CollectorRegistry()
        """What ``GET /metrics`` exposes."""
        self._latency = Histogram(
            "shopwise_http_request_duration_seconds",
            "Requests answered, by method, route template and status class, and their latency "
            "(its _count is the request count).",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], Histogram] = {}
        self._answers = _ByLabel(
            Counter(
                "shopwise_recommendation_answers_total",
                "Recommendation answers by the fallback that completed them ('none': no fallback).",
                ("fallback",),
                registry=self.registry,
            )
        )
        self._degraded = _ByLabel(
            Counter(
                "shopwise_recommendation_degraded_total",
                "Degradations of recommendation answers by reason code.",
                ("reason",),
                registry=self.registry,
            )
        )
        self._ingestion = _IngestionCounters(self.registry)
        self.registry.register(StoreReadings(engine, models_dir))

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request (``route``: its template) that took ``seconds``."""
        if method not in HTTP_METHODS:
            method = "other"
        key = (method, route, status // 100)
        child = self._children.get(key)
        if child is None:
            child = self._latency.labels(method, route, f"{status // 100}xx")
            self._children[key] = child
        child.observe(seconds)

    def answered(self, answer: Mapping[str, Any]) -> None:
        """Count one recommendation answer (its public fields) by fallback and degradations."""
        self._answers.inc(answer["fallback"] or NO_FALLBACK)
        for reason in answer["degraded"]:
            self._degraded.inc(reason)

    def ingested(self, result: IngestResult) -> None:
        """Count one ingested batch (a :meth:`shopwise.collect.Collector.observe` observer)."""
        self._ingestion.count(result)


def metrics_of(request: Request) -> ApiMetrics:
    """The metrics of the request's app (set by :func:`shopwise.api.create_app`)."""
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


class _ByLabel:
    """A counter with one label, its children remembered by label value: ``labels()`` checks
    and locks on every call, a cost the request path need not pay again. The values are codes
    from closed sets (fallback sources, reason and rejection codes), so the dictionary stays
    small."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._children: dict[str, Counter] = {}

    def inc(self, value: str, amount: float = 1.0) -> None:
        child = self._children.get(value)
        if child is None:
            child = self._children[value] = self._counter.labels(value)
        child.inc(amount)


class _IngestionCounters:
    """What happened to ingested events: accepted, duplicates, suppressed, rejected by code."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.accepted = Counter(
            "shopwise_events_accepted_total", "Events stored.", registry=registry
        )
        self.duplicates = Counter(
            "shopwise_events_duplicate_total",
            "Events already stored (the same message_id), not stored again.",
            registry=registry,
        )
        self.suppressed = Counter(
            "shopwise_events_suppressed_total",
            "Valid events of erased people, dropped.",
            registry=registry,
        )
        self.rejected = _ByLabel(
            Counter(
                "shopwise_events_rejected_total",
                "Events refused and dead-lettered, by reason code.",
                ("code",),
                registry=registry,
            )
        )

    def count(self, result: IngestResult) -> None:
        if result.accepted:
            self.accepted.inc(result.accepted)
        if result.duplicates:
            self.duplicates.inc(result.duplicates)
        if result.suppressed:
            self.suppressed.inc(result.suppressed)
        for rejection in result.rejected:
            self.rejected.inc(rejection.code)


class StoreReadings(PrometheusCollector):
    """The metrics read when scraped: job runs, bus lag, dead letters, model champions.

    A store that cannot be read is logged and answered as ``shopwise_store_up 0`` (the other
    metrics of the scrape are still served); a model family whose champion cannot be read is
    left out of that scrape.

    Parameters
    ----------
    engine
        The store.
    models_dir
        The model registry's folder.
    clock
        The current time in epoch seconds (tests set it).
    """

    def __init__(
        self, engine: sa.Engine, models_dir: Path, clock: Callable[[], float] = time.time
    ) -> None:
        self._engine = engine
        self._models_dir = models_dir
        self._clock = clock
        self._jobs = _JobTally()

    def describe(self) -> Iterable[Metric]:
        """The families this collector answers, without samples (reads nothing)."""
        return [
            *_job_families(),
            *_bus_families(),
            _dead_letter_family(),
            _store_up(0.0),
            *_model_families(),
        ]

    def collect(self) -> Iterable[Metric]:
        now = self._clock()
        try:
            with self._engine.connect() as conn:
                read = [
                    *_jobs(self._jobs, conn, now),
                    *_bus_lag(conn, now),
                    _pending_dead_letters(conn),
                ]
        except sa.exc.SQLAlchemyError as exc:  # boundary: the scrape answers without the store
            log.warning("metrics could not read the store", extra={"error": repr(exc)})
            read = [_store_up(0.0)]
        else:
            read.append(_store_up(1.0))
        return [*read, *_models(self._models_dir, now)]


def _store_up(value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "shopwise_store_up",
        "1 when this scrape read the store (job runs, bus offsets, dead letters), else 0.",
        value=value,
    )


def _job_families() -> tuple[CounterMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        CounterMetricFamily(
            "shopwise_job_runs",
            "Finished runs of the worker's jobs by job and status (all workers, from job_runs).",
            labels=("job", "status"),
        ),
        GaugeMetricFamily(
            "shopwise_job_runs_unfinished",
            "Runs of the job not finished yet, by status (running, or asked for and not started).",
            labels=("job", "status"),
        ),
        GaugeMetricFamily(
            "shopwise_job_last_success_age_seconds",
            "Seconds since the job's last successful run finished.",
            labels=("job",),
        ),
    )


class _JobTally:
    """The runs of ``job_runs`` counted by job and status, read incrementally.

    ``job_runs`` gains a row for every run (the short jobs run every few minutes), so a scrape
    does not aggregate the whole table: the runs up to the first one that is unfinished or
    touched within :data:`SETTLE_SECONDS` are settled, folded into this tally once, and each
    scrape reads only the rows after them, a range of the primary key. A run is written at its
    start, while its worker heartbeats, and at its end, then never again (but for a worker that
    lost its lock for longer than that and still finishes: its run stays counted as
    ``abandoned``); and any row with an earlier id was inserted before a settled run started, so
    it has long been committed (on PostgreSQL, ids are not taken in commit order).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settled_id = 0
        self._finished: collections.Counter[tuple[str, str]] = collections.Counter()
        self._succeeded: dict[str, int] = {}
        self._rows = (
            sa.select(
                job_runs.c.id,
                job_runs.c.job,
                job_runs.c.status,
                job_runs.c.heartbeat_at,
                job_runs.c.finished_at,
            )
            .where(job_runs.c.id > sa.bindparam("after"))
            .order_by(job_runs.c.id)
        )

    def read(self, conn: sa.Connection, now: float) -> _Runs:
        """The finished runs and the last success of every job, and the unfinished runs."""
        settle_before = (now - SETTLE_SECONDS) * 1000
        unfinished: collections.Counter[tuple[str, str]] = collections.Counter()
        with self._lock:
            rows = conn.execute(self._rows, {"after": self._settled_id})
            recent: list[tuple[str, str, int]] = []
            for run_id, job, status, heartbeat_at, finished_at in rows:
                if finished_at is None:
                    unfinished[job, status] += 1
                elif recent or unfinished or heartbeat_at >= settle_before:
                    recent.append((job, status, finished_at))
                else:
                    _fold(job, status, finished_at, self._finished, self._succeeded)
                    self._settled_id = run_id
            finished, succeeded = collections.Counter(self._finished), dict(self._succeeded)
        for job, status, finished_at in recent:
            _fold(job, status, finished_at, finished, succeeded)
        return _Runs(finished, unfinished, succeeded)


class _Runs(NamedTuple):
    finished: collections.Counter[tuple[str, str]]
    """Finished runs by (job, status)."""
    unfinished: collections.Counter[tuple[str, str]]
    """Runs not finished yet by (job, status)."""
    succeeded: dict[str, int]
    """When each job last finished a successful run (epoch ms)."""


def _fold(
    job: str,
    status: str,
    finished_at: int,
    finished: collections.Counter[tuple[str, str]],
    succeeded: dict[str, int],
) -> None:
    """Count one finished run into ``finished`` (and ``succeeded`` when it did)."""
    finished[job, status] += 1
    if status == SUCCEEDED:
        succeeded[job] = max(succeeded.get(job, 0), finished_at)


def _jobs(tally: _JobTally, conn: sa.Connection, now: float) -> list[Metric]:
    """Job runs by job and status (finished ones counted, unfinished ones shown) and the age of
    each job's last success."""
    finished, unfinished, age = _job_families()
    runs = tally.read(conn, now)
    for (job, status), count in sorted(runs.finished.items()):
        finished.add_metric((job, status), count)
    for (job, status), count in sorted(runs.unfinished.items()):
        unfinished.add_metric((job, status), count)
    for job, last in sorted(runs.succeeded.items()):
        age.add_metric((job,), max(now - last / 1000, 0.0))
    return [finished, unfinished, age]


def _bus_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "shopwise_bus_lag_events",
            "Events in the log after the consumer's stored position.",
            labels=("consumer",),
        ),
        GaugeMetricFamily(
            "shopwise_bus_lag_seconds",
            "Age of the oldest event the consumer has not passed (0 when caught up).",
            labels=("consumer",),
        ),
    )


def _bus_lag(conn: sa.Connection, now: float) -> list[Metric]:
    """How far behind the head of the event log each consumer's stored position is (an index
    seek on the event ids per consumer; consumers store their position from any process)."""
    behind, late = _bus_families()
    head = conn.execute(sa.select(sa.func.max(events.c.id))).scalar_one_or_none() or 0
    oldest = (
        sa.select(events.c[Columns.RECEIVED])
        .where(events.c.id > sa.bindparam("position"))
        .order_by(events.c.id)
        .limit(1)
    )
    offsets = sa.select(bus_offsets.c.consumer, bus_offsets.c.position)
    for consumer, position in conn.execute(offsets).all():
        behind.add_metric((consumer,), max(head - position, 0))
        received = conn.execute(oldest, {"position": position}).scalar_one_or_none()
        late.add_metric((consumer,), 0.0 if received is None else max(now - received / 1000, 0.0))
    return [behind, late]


def _dead_letter_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "shopwise_dead_letters_pending",
        "Dead letters not replayed yet, by reason code.",
        labels=("code",),
    )


def _pending_dead_letters(conn: sa.Connection) -> Metric:
    pending = _dead_letter_family()
    query = (
        sa.select(dead_letters.c.code, sa.func.count())
        .where(dead_letters.c.replayed_at.is_(None))
        .group_by(dead_letters.c.code)
    )
    for code, count in conn.execute(query):
        pending.add_metric((code,), count)
    return pending


def _model_families() -> tuple[InfoMetricFamily, GaugeMetricFamily]:
    return (
        InfoMetricFamily(
            "shopwise_model_champion",
            "The champion version of each model registry family.",
            labels=("family",),
        ),
        GaugeMetricFamily(
            "shopwise_model_champion_age_seconds",
            "Seconds since the family's champion version was saved (trained).",
            labels=("family",),
        ),
    )


def _models(models_dir: Path, now: float) -> list[Metric]:
    """Each registry family's champion (a folder of ``models_dir`` holding a champion pointer)."""
    info, age = _model_families()
    for family in sorted(pointer.parent.name for pointer in models_dir.glob(f"*/{CHAMPION}")):
        registry = ModelRegistry(models_dir, family)
        try:
            version = registry.champion()
            if version is None:
                continue
            saved = datetime.fromisoformat(registry.meta(version)["saved_at"]).timestamp()
        except (OSError, ValueError, KeyError) as exc:  # boundary: a family left out this scrape
            log.warning(
                "metrics could not read a champion", extra={"family": family, "error": repr(exc)}
            )
            continue
        info.add_metric((family,), {"version": version})
        age.add_metric((family,), max(now - saved, 0.0))
    return [info, age]
