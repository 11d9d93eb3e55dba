"""The KPI job: keeps ``kpi_buckets`` current from the event log, one affected slice at a time.

Each run reads the events stored after its watermark (its ``bus_offsets`` row, ``kpis``) and finds
the 5-minute slices of serving time they change: an exposure's own slice; for a click or add to
cart, the slice of the answer it names (read from the recommendation id); for an order, and for a
click that may take an order's line from an earlier click, the slices of every answer whose click
may win one of the order's lines. Only those slices are computed again from the stored events
(their answers, and the clicks and orders after them) and their rows replaced; each hour holding
one is then merged again from its slices' stored rows, and each day from its hours': counts
summed, distinct visitors, items and orders from the merge of sketches
(:class:`~shopwise.stats.Sketch`). So a run costs the slices its events touch, not the hour or
the day so far, and running the job twice, or after any split of the same events into runs,
leaves the rows a single run over everything leaves.

Slice rows are the job's own (``grain`` ``slice``, never read by :func:`~._query.read_kpis`);
those of hours no new event is expected to touch any more (two attribution windows back) are
deleted. An hour touched later without its slices (deleted, or stored before the job kept them) is
computed again whole.

Consent: an event counts only when its own statement and its profile's current choices allow
analytics, decided by :class:`~shopwise.privacy.ConsentPolicy` and :func:`~shopwise.privacy.
event_allows`, with profiles resolved through the identity graph as
:class:`~shopwise.privacy.ConsentedEvents` resolves them (that reader skips exposures and reads the
whole log, and this job needs both exposures and bounded reads). A choice changed later applies to
the slices computed after it, and to their hours and days.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

import sqlalchemy as sa

from shopwise.kpis._attribution import (
    DAY_MS,
    HOUR_MS,
    Dims,
    Exposure,
    Order,
    Tally,
    Totals,
    Touch,
    bucket_start,
    clicks_by_product,
    in_window,
    outcomes,
)
from shopwise.privacy import ConsentPolicy, event_allows, owners_of
from shopwise.profiles import anon_key, profile_id_for, user_key
from shopwise.schema import Columns as C
from shopwise.schema import EventType, Purpose, served_at
from shopwise.stats import Sketch
from shopwise.store import (
    bus_offsets,
    events,
    identities,
    kpi_buckets,
    products,
    rule_sets,
    shopper_events,
    write_transaction,
)

CONSUMER: Final = "kpis"
"""The job's row in ``bus_offsets``: the last event id it has read."""
CLICK_TYPES: Final = (
    EventType.RECOMMENDATION_CLICKED,
    EventType.PRODUCT_VIEWED,
    EventType.EMAIL_CLICKED,
    EventType.PROMOTION_CLICKED,
)
TOUCH_TYPES: Final = (*CLICK_TYPES, EventType.PRODUCT_ADDED)
READ_TYPES: Final = (*TOUCH_TYPES, EventType.RECOMMENDATION_VIEWED, EventType.ORDER_COMPLETED)
NONE: Final = "none"
"""The group value of an exposure that does not name its model or variant."""
REC_ID: Final = "recommendation_id"
BATCH_ROWS: Final = 5000
SLICE: Final = "slice"
"""The grain of the job's own rows, merged into hours (see module docstring)."""
SLICE_MS: Final = 5 * 60 * 1000
ADDITIVE: Final = ("impressions", "items_shown", "fallbacks", "clicks", "adds", "revenue")
"""The counts of an hour or a day that are the sums of its slices' or hours'."""
SKETCHED: Final = {
    "visitors": "visitor_sketch",
    "distinct_items": "item_sketch",
    "orders": "order_sketch",
}
"""The distinct counts, each with the column of its sketch (see :class:`~._attribution.Tally`)."""


@dataclass
class KpiRefresh:
    """Brings the stored KPIs up to date with the events (see module docstring).

    Parameters
    ----------
    engine
        The store.
    policy
        Consent modes; only events allowed for analytics count.
    window_hours
        The attribution window (``SHOPWISE_ATTRIBUTION_WINDOW_HOURS``).
    """

    engine: sa.Engine
    policy: ConsentPolicy
    window_hours: int = 24

    @property
    def window_ms(self) -> int:
        return self.window_hours * HOUR_MS

    def run(self) -> dict[str, int]:
        """Process the events after the watermark; the counts of what was done."""
        with self.engine.connect() as conn:
            start = _watermark(conn)
            end = int(conn.execute(sa.select(sa.func.max(events.c.id))).scalar_one() or 0)
            if end <= start:
                return {"events": 0, "slices": 0, "hours": 0, "days": 0, "position": start}
            reader = _Reader(conn, self.policy)
            new, slices = self._affected(reader, start, end)
            slices |= _whole_hours(conn, slices)
            catalog = _catalog_size(conn)
            rows = self._compute(reader, slices, catalog) if slices else []
        days = _store(self.engine, slices, rows, catalog)
        if slices:
            _prune(self.engine, bucket_start(max(slices), HOUR_MS) - 2 * self.window_ms)
        _save_watermark(self.engine, end)
        hours = {bucket_start(piece, HOUR_MS) for piece in slices}
        return {
            "events": new,
            "slices": len(slices),
            "hours": len(hours),
            "days": days,
            "position": end,
        }

    def _affected(self, reader: _Reader, start: int, end: int) -> tuple[int, set[int]]:
        """How many events after the watermark can count (answers, orders, and touches that
        name an answer), and the slices they change."""
        slices: set[int] = set()
        orders: list[Order] = []
        clicks: list[Touch] = []
        new = 0
        own = events.c.type.in_([EventType.RECOMMENDATION_VIEWED, EventType.ORDER_COMPLETED])
        condition = (events.c.id > start) & (events.c.id <= end) & (own | _names_answer())
        for kind, item in reader.read(condition, READ_TYPES):
            new += 1
            if isinstance(item, Exposure):
                slices.add(bucket_start(item.served_at, SLICE_MS))
            elif isinstance(item, Order):
                orders.append(item)
            elif in_window(item, self.window_ms):
                slices.add(bucket_start(_served(item), SLICE_MS))
                if kind != EventType.PRODUCT_ADDED and item.product_id is not None:
                    clicks.append(item)
        orders += self._orders_after(reader, clicks)
        if orders:
            first = min(o.timestamp for o in orders)
            last = max(o.timestamp for o in orders)
            candidates = reader.buyers_touches(orders, first - self.window_ms, last + 1)[0]
            slices |= self._order_slices(orders, candidates)
        return new, slices

    def _orders_after(self, reader: _Reader, clicks: list[Touch]) -> list[Order]:
        """The orders a new click may win a line of, taking it from an earlier click's answer."""
        if not clicks:
            return []
        first = min(c.timestamp for c in clicks)
        last = max(c.timestamp for c in clicks)
        clickers = {c.profile for c in clicks}
        found = reader.orders(first, last + self.window_ms + 1)
        return [order for order in found if order.profile in clickers]

    def _order_slices(self, orders: Iterable[Order], clicks: list[Touch]) -> set[int]:
        """The slices of the answers whose clicks may win a line of ``orders``: every click in
        the window before the order, for the winner may have changed since the last run."""
        by_product = clicks_by_product(clicks, self.window_ms)
        slices = set()
        for order in orders:
            for product_id, _amount in order.lines:
                for click in by_product.get((order.profile, product_id), []):
                    if click.timestamp <= order.timestamp <= click.timestamp + self.window_ms:
                        slices.add(bucket_start(_served(click), SLICE_MS))
        return slices

    def _compute(self, reader: _Reader, slices: set[int], catalog: int) -> list[dict[str, Any]]:
        """The rows of ``slices``, from their answers and the clicks and orders that can touch
        them (from the first slice's start to two windows after the last slice).

        The answers are folded as they are read, a slice at a time, so the job holds the clicks
        and orders but not the answers, the bulk of the log: of those only their ids (an answer
        stored twice counts once) and the distinct items, visitors and orders of each group."""
        window = self.window_ms
        first, last = min(slices), max(slices) + SLICE_MS
        clicks, adds = reader.touches(first, last + 2 * window)
        orders = reader.orders(first, last + 2 * window)
        tally: Tally[tuple[int, Dims]] = Tally(outcomes(clicks, adds, orders, window))
        for piece in sorted(slices):
            for exposure in reader.exposures(piece, piece + SLICE_MS):
                tally.add(exposure, (piece, exposure.dims))
        now = int(time.time() * 1000)
        rows = []
        for (piece, dims), totals in tally.totals().items():
            members = tally.groups[(piece, dims)]
            sketches = (members.visitors, members.items, members.orders)
            rows.append(
                _row(SLICE, piece, dims, replace(totals, catalog_size=catalog), now)
                | {
                    column: Sketch.of(found).to_bytes()
                    for column, found in zip(SKETCHED.values(), sketches, strict=True)
                }
            )
        return rows


class _Reader:
    """Stored events as attribution records, for consenting profiles only.

    The owners and consent of the ids are read for each batch of events (:meth:`prepare`), not
    for every shopper in the store: a run's memory follows the events it reads.
    """

    def __init__(self, conn: sa.Connection, policy: ConsentPolicy) -> None:
        self._conn = conn
        self._policy = policy
        self._rules = _RuleVersions(conn)
        self._profiles: dict[str, str | None] = {}
        """Identity key -> its canonical profile when it allows analytics (else ``None``), for
        the ids of the batch prepared last."""
        self._buyers: defaultdict[str, set[str]] = defaultdict(set)
        """Profile -> the identity keys of the orders read for it (see :meth:`buyers_touches`)."""

    def prepare(self, rows: Sequence[sa.Row[Any]]) -> None:
        """Resolve the ids of a batch of event rows before :meth:`_profile` is asked about them."""
        keys = {_key(row) for row in rows}
        with self._conn.engine.connect() as lookup:
            owners = owners_of(lookup, keys)
            profiles = {key: owners.get(key) or profile_id_for(key) for key in keys}
            allowed = self._policy.allowed_among(lookup, Purpose.ANALYTICS, set(profiles.values()))
        self._profiles = {key: p if p in allowed else None for key, p in profiles.items()}

    def exposures(self, start: int, end: int) -> Iterator[Exposure]:
        """The answers served in ``[start, end)``, read a batch at a time."""
        found = self.read(_between(start, end), (EventType.RECOMMENDATION_VIEWED,))
        return (item for _kind, item in found if isinstance(item, Exposure))

    def touches(
        self, start: int, end: int, among: sa.ColumnElement[bool] | None = None
    ) -> tuple[list[Touch], list[Touch]]:
        """Clicks and adds to cart naming an answer, with times in ``[start, end)`` (and
        matching ``among``, when given)."""
        clicks: list[Touch] = []
        adds: list[Touch] = []
        # most product views name no answer: left out by the store, never parsed or resolved
        condition = _between(start, end) & _names_answer()
        if among is not None:
            condition &= among
        for kind, item in self.read(condition, TOUCH_TYPES):
            if isinstance(item, Touch):
                (adds if kind == EventType.PRODUCT_ADDED else clicks).append(item)
        return clicks, adds

    def buyers_touches(
        self, orders: Collection[Order], start: int, end: int
    ) -> tuple[list[Touch], list[Touch]]:
        """The touches in ``[start, end)`` of the buyers of ``orders`` (read by this reader) on
        the products they ordered: found through the shopper indexes, not by reading every
        touch of the period. A buyer's keys are those the identity graph gives their profile
        and the order's own (a key not linked yet is the root of its own profile)."""
        profiles = {order.profile for order in orders}
        keys = {key for profile in profiles for key in self._buyers[profile]}
        query = sa.select(identities.c.id_key).where(identities.c.profile_id.in_(sorted(profiles)))
        with self._conn.engine.connect() as lookup:
            keys.update(lookup.scalars(query))
        products = events.c.product_id.in_(
            sorted({product for order in orders for product, _amount in order.lines})
        )
        found: tuple[dict[int, Touch], dict[int, Touch]] = ({}, {})
        # one read per index: SQLite uses neither shopper index for an OR of the two
        for column, prefix in ((events.c.anonymous_id, "a:"), (events.c.user_id, "u:")):
            ids = sorted(key[2:] for key in keys if key.startswith(prefix))
            if not ids:
                continue
            among = shopper_events() & column.in_(ids) & products
            for touches, kept in zip(self.touches(start, end, among), found, strict=True):
                kept.update((touch.event_id, touch) for touch in touches)
        clicks, adds = (sorted(kept.values(), key=lambda t: t.event_id) for kept in found)
        return clicks, adds

    def orders(self, start: int, end: int) -> list[Order]:
        found = self.read(_between(start, end), (EventType.ORDER_COMPLETED,))
        return [item for _kind, item in found if isinstance(item, Order)]

    def read(
        self, condition: sa.ColumnElement[bool], types: Iterable[str]
    ) -> Iterator[tuple[str, Exposure | Touch | Order]]:
        """The consented events of ``types`` matching ``condition``, in id order."""
        query = (
            sa.select(events)
            .where(condition, events.c.type.in_(sorted(types)))
            .order_by(events.c.id)
        )
        result = self._conn.execution_options(yield_per=BATCH_ROWS).execute(query)
        for rows in result.partitions():
            self.prepare(rows)
            for row in rows:
                profile = self._profile(row)
                item = None if profile is None else self._record(row, profile)
                if item is not None:
                    yield row.type, item

    def _profile(self, row: sa.Row[Any]) -> str | None:
        """The row's canonical profile, or ``None`` when consent refuses analytics (the row's
        batch was prepared)."""
        if not event_allows(row.context, Purpose.ANALYTICS):
            return None
        return self._profiles[_key(row)]

    def _record(self, row: sa.Row[Any], profile: str) -> Exposure | Touch | Order | None:
        props: dict[str, Any] = row.properties or {}
        if row.type == EventType.RECOMMENDATION_VIEWED:
            return self._exposure(row, props, profile)
        if row.type == EventType.ORDER_COMPLETED:
            self._buyers[profile].add(_key(row))
            return _order(row, props, profile)
        rid = props.get(REC_ID)
        if not isinstance(rid, str) or served_at(rid) is None:
            return None
        product = row.product_id or props.get(C.ITEM)
        return Touch(row.id, rid, profile, product, row.timestamp)

    def _exposure(self, row: sa.Row[Any], props: dict[str, Any], profile: str) -> Exposure | None:
        rid = props.get(REC_ID)
        if not isinstance(rid, str):
            return None
        model = props.get("model_version")
        rules = props.get("rules_version")
        dims = Dims(
            str(props.get("placement") or NONE),
            NONE if model is None else str(model),
            str(rules) if rules is not None else self._rules.at(row.timestamp),
            str(props.get("variant") or NONE),
        )
        # an answer without a model is the fallback rules' answer
        fallback = bool(props["fallback"]) if "fallback" in props else model is None
        shown = tuple(str(p) for p in props.get("product_ids") or ())
        experiment = props.get("experiment")
        return Exposure(
            rid,
            profile,
            row.timestamp,
            dims,
            shown,
            fallback,
            None if experiment is None else str(experiment),
        )


class _RuleVersions:
    """Which rule set was live at a time, for exposures that do not name it (the newest version
    stored by then; ``0``, the built-in defaults, before any)."""

    def __init__(self, conn: sa.Connection) -> None:
        query = (
            sa.select(rule_sets.c.created_at, rule_sets.c.version)
            .where(rule_sets.c.kind == "rules")
            .order_by(rule_sets.c.created_at, rule_sets.c.version)
        )
        rows = list(conn.execute(query))
        self._times = [row.created_at for row in rows]
        self._versions = [str(row.version) for row in rows]

    def at(self, timestamp: int) -> str:
        index = bisect.bisect_right(self._times, timestamp)
        return self._versions[index - 1] if index else "0"


def _order(row: sa.Row[Any], props: dict[str, Any], profile: str) -> Order | None:
    lines = []
    for line in props.get("products") or ():
        if isinstance(line, dict) and line.get(C.ITEM) is not None:
            price = line.get(C.PRICE)
            amount = float(price) * int(line.get(C.QUANTITY) or 1) if price is not None else 0.0
            lines.append((str(line[C.ITEM]), amount))
    order_id = props.get(C.ORDER)
    if order_id is None:
        return None
    return Order(row.id, str(order_id), profile, row.timestamp, tuple(lines))


def _served(touch: Touch) -> int:
    served = served_at(touch.recommendation_id)
    assert served is not None  # touches are made only of ids shopwise made
    return served


def _key(row: sa.Row[Any]) -> str:
    """The identity key an event row counts for: its user id's, else its anonymous id's."""
    return user_key(row.user_id) if row.user_id else anon_key(row.anonymous_id)


def _names_answer() -> sa.ColumnElement[bool]:
    """The event carries a ``recommendation_id`` (most product views do not)."""
    carries: sa.ColumnElement[bool] = events.c.properties[REC_ID].as_string().is_not(None)
    return carries


def _between(start: int, end: int) -> sa.ColumnElement[bool]:
    return (events.c.timestamp >= start) & (events.c.timestamp < end)


def _catalog_size(conn: sa.Connection) -> int:
    query = sa.select(sa.func.count()).select_from(products).where(products.c.available)
    return int(conn.execute(query).scalar_one())


def _row(grain: str, begin: int, dims: Dims, totals: Totals, now: int) -> dict[str, Any]:
    return {
        "grain": grain,
        "bucket_start": begin,
        "placement": dims.placement,
        "model_version": dims.model_version,
        "rule_version": dims.rule_version,
        "variant": dims.variant,
        **asdict(totals),
        "computed_at": now,
    }


def _whole_hours(conn: sa.Connection, slices: set[int]) -> set[int]:
    """Every slice of the hours to compute again whole: the touched hours whose slices are gone
    and the hours of the touched days stored without sketches."""
    days = {bucket_start(piece, DAY_MS) for piece in slices}
    whole = _unsliced(conn, {bucket_start(piece, HOUR_MS) for piece in slices})
    whole |= _unsketched(conn, days)
    return {piece for hour in whole for piece in range(hour, hour + HOUR_MS, SLICE_MS)}


def _store(engine: sa.Engine, slices: set[int], rows: list[dict[str, Any]], catalog: int) -> int:
    """Replace the rows of ``slices`` and of their hours and days, a day a transaction; the
    number of days."""
    by_day: defaultdict[int, set[int]] = defaultdict(set)
    for piece in slices:
        by_day[bucket_start(piece, DAY_MS)].add(piece)
    for day, day_slices in sorted(by_day.items()):
        day_rows = [row for row in rows if row["bucket_start"] in day_slices]
        _replace(engine, day, day_slices, day_rows, catalog)
    return len(by_day)


def _replace(
    engine: sa.Engine, day: int, slices: set[int], rows: list[dict[str, Any]], catalog: int
) -> None:
    """Replace the rows of ``slices`` with ``rows``, the rows of their hours with the merge of
    each hour's slices, and the rows of ``day`` with the merge of its hours, in one transaction."""
    grain, start = kpi_buckets.c.grain, kpi_buckets.c.bucket_start
    hours = sorted({bucket_start(piece, HOUR_MS) for piece in slices})
    with write_transaction(engine) as conn:
        conn.execute(kpi_buckets.delete().where((grain == SLICE) & start.in_(sorted(slices))))
        if rows:
            conn.execute(kpi_buckets.insert(), rows)
        for hour in hours:
            _merge_into(conn, "hour", hour, _of(SLICE, hour, hour + HOUR_MS), catalog)
        _merge_into(conn, "day", day, _of("hour", day, day + DAY_MS), catalog)


def _of(part: str, begin: int, end: int) -> sa.ColumnElement[bool]:
    """The rows of grain ``part`` starting in ``[begin, end)``."""
    start = kpi_buckets.c.bucket_start
    return (kpi_buckets.c.grain == part) & (start >= begin) & (start < end)


def _merge_into(
    conn: sa.Connection, grain: str, begin: int, parts: sa.ColumnElement[bool], catalog: int
) -> None:
    """Replace the rows of the ``grain`` bucket at ``begin`` with the merge of the rows matching
    ``parts``."""
    rows = _merged(grain, begin, conn.execute(sa.select(kpi_buckets).where(parts)), catalog)
    bucket = (kpi_buckets.c.grain == grain) & (kpi_buckets.c.bucket_start == begin)
    conn.execute(kpi_buckets.delete().where(bucket))
    if rows:
        conn.execute(kpi_buckets.insert(), rows)


def _merged(
    grain: str, begin: int, parts: Iterable[sa.Row[Any]], catalog: int
) -> list[dict[str, Any]]:
    """The rows of the ``grain`` bucket at ``begin`` from the rows of its parts: counts summed,
    sketches merged (and kept in hour rows, for their day)."""
    totals: dict[Dims, Totals] = {}
    sketches: defaultdict[tuple[Dims, str], Sketch] = defaultdict(Sketch)
    for part in parts:
        dims = Dims(part.placement, part.model_version, part.rule_version, part.variant)
        total = totals.setdefault(dims, Totals(catalog_size=catalog))
        for name in ADDITIVE:
            setattr(total, name, getattr(total, name) + getattr(part, name))
        for column in SKETCHED.values():
            sketches[(dims, column)].merge(Sketch.from_bytes(getattr(part, column)))
    now = int(time.time() * 1000)
    rows: list[dict[str, Any]] = []
    for dims, total in sorted(totals.items()):
        counts = {name: sketches[(dims, column)].count() for name, column in SKETCHED.items()}
        row = _row(grain, begin, dims, replace(total, **counts), now)
        if grain == "hour":
            row |= {column: sketches[(dims, column)].to_bytes() for column in SKETCHED.values()}
        rows.append(row)
    return rows


def _unsliced(conn: sa.Connection, hours: Iterable[int]) -> set[int]:
    """Those of ``hours`` that have rows but no slice rows (deleted, or stored before the job
    kept them): computed again whole, so that their other slices are not lost."""
    found: set[int] = set()
    for hour in hours:
        query = (
            sa.select(kpi_buckets.c.grain)
            .distinct()
            .where(
                (kpi_buckets.c.grain == "hour") & (kpi_buckets.c.bucket_start == hour)
                | _of(SLICE, hour, hour + HOUR_MS)
            )
        )
        if set(conn.scalars(query)) == {"hour"}:
            found.add(hour)
    return found


def _unsketched(conn: sa.Connection, days: Iterable[int]) -> set[int]:
    """The hours of ``days`` whose rows have no sketches (stored before the job kept them):
    computed again whole, so that their days can be merged."""
    found: set[int] = set()
    for day in days:
        query = (
            sa.select(kpi_buckets.c.bucket_start)
            .distinct()
            .where(_of("hour", day, day + DAY_MS), kpi_buckets.c.visitor_sketch.is_(None))
        )
        found.update(int(hour) for hour in conn.scalars(query))
    return found


def _prune(engine: sa.Engine, before: int) -> None:
    """Delete the slice rows of the hours before ``before``: no event is expected to touch them
    any more, and one that does has its hour computed again whole."""
    stale = (kpi_buckets.c.grain == SLICE) & (kpi_buckets.c.bucket_start < before)
    with write_transaction(engine) as conn:
        conn.execute(kpi_buckets.delete().where(stale))


def _watermark(conn: sa.Connection) -> int:
    query = sa.select(bus_offsets.c.position).where(bus_offsets.c.consumer == CONSUMER)
    return int(conn.execute(query).scalar_one_or_none() or 0)


def _save_watermark(engine: sa.Engine, position: int) -> None:
    now = int(time.time() * 1000)
    with write_transaction(engine) as conn:
        updated = conn.execute(
            bus_offsets.update()
            .where(bus_offsets.c.consumer == CONSUMER)
            .values(position=position, updated_at=now)
        )
        if not updated.rowcount:
            conn.execute(
                bus_offsets.insert().values(consumer=CONSUMER, position=position, updated_at=now)
            )
