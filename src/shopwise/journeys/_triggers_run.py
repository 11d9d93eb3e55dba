"""One run of the triggers over the store: load people, ask the engine, record, enqueue.

:meth:`TriggerRunner.run` reads the live trigger set and the catalog changes, loads the people
who need deciding, builds each :class:`~shopwise.journeys._triggers_engine.Person` (consent,
``timezone`` trait, scores, recent checkouts and wish-list adds, earlier decisions) and records
every decision of :func:`~shopwise.journeys._triggers_engine.due` in ``trigger_decisions``. A
fired decision's message is composed first (serving picks its recommendations), then enqueued
into the outbox in the same transaction that records the decision, so a crash leaves both or
neither: the anchor is never fired twice and never lost. :func:`stored_message` and
:func:`render_stored` serve previews.

Who needs deciding: the first run of a runner, and a run after the trigger set, the horizon or a
product's repurchase interval changed, loads every profile changed within the triggers' horizon
(plus, for win-back, those whose churn score reaches its threshold). Every later run loads only
the profiles whose own data changed since the run before (profile, scores), those interested in
a new catalog change that starts a trigger (they viewed or wish-listed its product), and those
whose wake-up (``trigger_wakeups``, written with their decisions by
:func:`~shopwise.journeys._triggers_engine.next_look`) has come: an anchor falling due, or quiet
hours ending. A person left out would be decided exactly as before, nothing having changed. A
run rereads what was written within :data:`SETTLE_MS` before the run before it began, since a
write may commit late; a scoring write (a whole population's scores, in one transaction with one
``scored_at``) is decided by the first run that reads it, and later runs skip it while its count
of profiles at a threshold is the same.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from shopwise.catalog import Product
from shopwise.decide import VersionedStore
from shopwise.errors import InvalidInput
from shopwise.journeys._message import Enqueued, Message, check_message
from shopwise.journeys._messages import Composer, Rendered, Templates
from shopwise.journeys._triggers import TriggerConfig, TriggerSet
from shopwise.journeys._triggers_engine import (
    DAY_MS,
    FIRED,
    MINUTE_MS,
    QUIET,
    SENT,
    UNDELIVERABLE,
    WEEK_MS,
    CatalogChange,
    Decision,
    Known,
    Person,
    due,
    next_look,
    reachable,
    starts,
)
from shopwise.privacy import ConsentPolicy, PiiCipher, event_allows
from shopwise.profiles import ProfileState
from shopwise.schema import Columns, EventType, Purpose
from shopwise.store import (
    catalog_changes,
    customer_scores,
    events,
    identities,
    profiles,
    shopper_events,
    trigger_decisions,
    trigger_wakeups,
    write_transaction,
)

BATCH: Final = 500
"""Profiles loaded and decided together."""
CATALOG_KINDS: Final = frozenset({"price_drop", "back_in_stock"})
SETTLE_MS: Final = 120_000
"""How long a write of a profile or of scores may take to commit: a run reads again what changed
this long before the run before it began."""
Enqueue = Callable[[sa.Connection, Message], Enqueued]
Scorings = dict[tuple[str, int], int]
"""(win-back trigger, a scoring write's ``scored_at``) -> how many of its profiles reach the
trigger's threshold."""


def zone(name: Any, default: ZoneInfo) -> ZoneInfo:
    """The time zone named ``name`` (an IANA name), ``default`` when it is not one."""
    if not isinstance(name, str) or not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


def repurchase_days(product: Product | None) -> float | None:
    """A product's own repurchase interval: its positive ``repurchase_days`` attribute."""
    value = None if product is None else product.attributes.get("repurchase_days")
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    return float(value) if ok else None  # type: ignore[arg-type]


def horizon_ms(triggers: Sequence[TriggerConfig], catalog: Mapping[str, Product]) -> int:
    """How far back a run looks: the longest anchor-to-expiry span of the enabled triggers."""
    longest = max((repurchase_days(p) or 0.0 for p in catalog.values()), default=0.0)
    spans = [0]
    for t in triggers:
        span = (t.delay_minutes + t.expires_minutes) * MINUTE_MS
        if t.kind == "replenishment":
            span += max(longest, t.interval_days or 0.0) * DAY_MS
        if t.kind in CATALOG_KINDS:
            span += t.lookback_days * DAY_MS
        spans.append(int(span))
    return max(spans)


def idempotency_key(trigger: str, profile_id: str, anchor: str) -> str:
    """The outbox key of a firing: the same (trigger, profile, anchor) is one message."""
    digest = hashlib.sha256(f"{trigger}\x00{profile_id}\x00{anchor}".encode()).hexdigest()
    return f"trigger-{digest[:48]}"


def _chunks(values: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _trait(state: ProfileState, name: str) -> Any:
    entry = state.traits.get(name)
    return None if entry is None else entry[0]


def _price_changes(
    rows: Sequence[Mapping[str, Any]], catalog: Mapping[str, Product]
) -> list[CatalogChange]:
    """``catalog_changes`` rows as the triggers read them: a price or sale-price change as the
    effective price before and after (the other field at its current value), a change of
    ``available`` or of ``stock`` to or from zero as whether the product could be bought."""
    changes = []
    for row in rows:
        product = catalog.get(row[Columns.ITEM])
        if product is None:
            continue
        field, old, new = row["field"], row["old"], row["new"]
        if field == "price":
            kind = "price"
            if product.sale_price is not None:
                old = new = product.sale_price
        elif field == "sale_price":
            kind = "price"
            old = product.price if old is None else old
            new = product.price if new is None else new
        elif field == "available":
            kind, old, new = "stock", bool(old), bool(new)
        else:
            kind = "stock"
            old = old is None or old > 0
            new = new is None or new > 0
        changes.append(CatalogChange(row["id"], product.id, kind, old, new, row["changed_at"]))
    return changes


@dataclass(frozen=True)
class _Loaded:
    person: Person
    user_id: str | None


@dataclass(frozen=True)
class TriggerRun:
    """What one run did: the count of each outcome decided, the profiles read (those no trigger
    can reach are read, not decided), and whether it read every profile within the horizon (see
    the module docstring)."""

    outcomes: dict[str, int]
    people: int
    full: bool

    def public(self) -> dict[str, Any]:
        return {**self.outcomes, "people": self.people, "full": self.full}


@dataclass(frozen=True)
class _Basis:
    """What a run's wake-ups assumed: the trigger set's version and the products' own repurchase
    intervals (a hash; with the triggers they make the horizon). Another basis makes the next run
    a full one."""

    version: int
    intervals: int


def _basis(version: int, catalog: Mapping[str, Product]) -> _Basis:
    intervals = frozenset(
        (product_id, days)
        for product_id, product in catalog.items()
        if (days := repurchase_days(product)) is not None
    )
    return _Basis(version, hash(intervals))


class TriggerRunner:
    """Runs the triggers over one store (see the module docstring).

    Parameters
    ----------
    engine
        The store.
    triggers
        The versioned trigger sets.
    consent
        The consent policy (marketing for the messages, personalization for the scores read).
    cipher
        Opens the email address and first name of a person messaged.
    catalog
        The catalog snapshot (product id -> product).
    composer, templates
        Make and render a fired trigger's message.
    enqueue
        The outbox's enqueue, called on the decision's own connection and transaction.
    default_timezone
        The time zone of shoppers without a ``timezone`` trait.
    clock
        The clock the store's profiles and scores are written at (seconds since the epoch).
    """

    def __init__(
        self,
        engine: sa.Engine,
        triggers: VersionedStore[TriggerSet],
        consent: ConsentPolicy,
        cipher: PiiCipher,
        catalog: Callable[[], Mapping[str, Product]],
        composer: Composer,
        templates: Templates,
        enqueue: Enqueue,
        default_timezone: str = "UTC",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._triggers = triggers
        self._consent = consent
        self._cipher = cipher
        self._catalog = catalog
        self._composer = composer
        self._templates = templates
        self._enqueue = enqueue
        self._zone = ZoneInfo(default_timezone)
        self._clock = clock
        self._basis: _Basis | None = None
        self._began = 0
        self._handled: frozenset[int] = frozenset()
        self._scorings: Scorings = {}
        """The scoring writes within the settle time that a run has decided, by their row count."""

    def run(self, now: int) -> TriggerRun:
        """Decide every due anchor at ``now`` (epoch ms) for the people who need deciding."""
        began = int(self._clock() * 1000)
        live = self._triggers.live()
        enabled = live.value.enabled()
        if not enabled:
            self._basis = None
            return TriggerRun({}, 0, False)
        catalog = self._catalog()
        since = now - horizon_ms(enabled, catalog)
        changes: list[CatalogChange] = []
        if any(t.kind in CATALOG_KINDS for t in enabled):
            changes = self._changes(since, catalog)
        basis = _basis(live.version, catalog)
        full = basis != self._basis
        if full:
            candidates, scorings = self._everyone(since, enabled, now)
        else:
            candidates, scorings = self._changed(enabled, changes, now)

        def interval_of(product_id: str) -> float | None:
            return repurchase_days(catalog.get(product_id))

        counts: Counter[str] = Counter()
        people = 0
        for chunk in _chunks(candidates, BATCH):
            wakes: dict[str, int] = {}
            reached, read = self._people(chunk, live.value, since, now)
            for loaded in reached:
                person = loaded.person
                decisions = due(person, live.value, now, changes, interval_of)
                for decision in decisions:
                    counts[self._record(loaded, decision, live.value, live.version, now)] += 1
                wake = next_look(person, live.value, now, decisions, changes, interval_of)
                if wake is not None:
                    wakes[person.profile_id] = wake
            people += read
            self._save_wakes(chunk, wakes)
        self._basis, self._began = basis, began
        self._handled = frozenset(change.id for change in changes)
        self._scorings = {key: n for key, n in scorings.items() if key[1] >= began - SETTLE_MS}
        return TriggerRun(dict(counts), people, full)

    # -- loading ---------------------------------------------------------------------------

    def _changes(self, since: int, catalog: Mapping[str, Product]) -> list[CatalogChange]:
        query = (
            sa.select(catalog_changes)
            .where(catalog_changes.c.changed_at >= since)
            .order_by(catalog_changes.c.id)
        )
        with self._engine.connect() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
        return _price_changes(rows, catalog)

    def _everyone(
        self, since: int, enabled: Sequence[TriggerConfig], now: int
    ) -> tuple[list[str], Scorings]:
        """Every profile changed within the horizon, scored for win-back, or waking up; and the
        scoring writes read."""
        with self._engine.connect() as conn:
            found = _changed_profiles(conn, since) | _waking(conn, now)
            scored = _scored(conn, enabled, None)
        found.update(*scored.values())
        return sorted(found), _counts(scored)

    def _changed(
        self, enabled: Sequence[TriggerConfig], changes: Sequence[CatalogChange], now: int
    ) -> tuple[list[str], Scorings]:
        """The profiles changed since the run before, scored by a write no run has decided,
        waking up, or interested in a catalog change that run did not see; and the scoring
        writes read."""
        seen = self._began - SETTLE_MS
        catalog_triggers = [t for t in enabled if t.kind in CATALOG_KINDS]
        fresh = [
            change
            for change in changes
            if change.id not in self._handled and any(starts(t, change) for t in catalog_triggers)
        ]
        with self._engine.connect() as conn:
            found = _changed_profiles(conn, seen) | _waking(conn, now)
            scored = _scored(conn, enabled, seen)
            if fresh:
                lookback = max(int(t.lookback_days * DAY_MS) for t in catalog_triggers)
                found |= _interested(conn, fresh, lookback)
        counts = _counts(scored)
        for key, ids in scored.items():
            if self._scorings.get(key) != counts[key]:
                found |= ids
        return sorted(found), counts

    def _save_wakes(self, chunk: Sequence[str], wakes: Mapping[str, int]) -> None:
        """Replace the wake-ups of ``chunk`` (merged and erased profiles' go)."""
        c = trigger_wakeups.c
        with write_transaction(self._engine) as conn:
            conn.execute(trigger_wakeups.delete().where(c[Columns.PROFILE].in_(chunk)))
            if wakes:
                rows = [{Columns.PROFILE: p, "wake_at": at} for p, at in wakes.items()]
                conn.execute(trigger_wakeups.insert(), rows)

    def _people(
        self, chunk: Sequence[str], triggers: TriggerSet, since: int, now: int
    ) -> tuple[list[_Loaded], int]:
        """The people of ``chunk`` the triggers could reach (see
        :func:`~shopwise.journeys._triggers_engine.reachable`), and how many profiles were read."""
        with self._engine.connect() as conn:
            read = {
                row.profile_id: ProfileState.from_json(row.state)
                for row in conn.execute(
                    sa.select(profiles.c.profile_id, profiles.c.state).where(
                        profiles.c.profile_id.in_(chunk), profiles.c.merged_into.is_(None)
                    )
                )
            }
            known, sent = self._known(conn, chunk, now)
            states = {
                profile_id: state
                for profile_id, state in read.items()
                if reachable(
                    triggers, state, bool(_trait(state, "email")), known.get(profile_id, {})
                )
            }
            if not states:
                return [], len(read)
            scores = self._scores(conn, list(states))
            ids = self._ids(conn, list(states))
            checkouts, wishlist = self._intent(conn, ids, since)
        users: dict[str, list[str]] = {}
        for key, owner in ids.items():
            if key.startswith("u:"):
                users.setdefault(owner, []).append(key[2:])
        loaded = []
        for profile_id, state in states.items():
            personal = self._consent.allows(state.consent, Purpose.PERSONALIZATION)
            person = Person(
                profile_id=profile_id,
                state=state,
                marketing=self._consent.allows(state.consent, Purpose.MARKETING),
                email=bool(_trait(state, "email")),
                timezone=zone(_trait(state, "timezone"), self._zone),
                scores=scores.get(profile_id, {}) if personal else {},
                checkouts=checkouts.get(profile_id, []),
                wishlist=wishlist.get(profile_id, []),
                sent=sent.get(profile_id, []),
                known=known.get(profile_id, {}),
            )
            loaded.append(_Loaded(person, min(users.get(profile_id, []), default=None)))
        return loaded, len(read)

    @staticmethod
    def _known(
        conn: sa.Connection, chunk: Sequence[str], now: int
    ) -> tuple[dict[str, dict[tuple[str, str], Known]], dict[str, list[int]]]:
        t = trigger_decisions.c
        query = sa.select(
            t.trigger,
            t[Columns.PROFILE],
            t.anchor,
            t.outcome,
            t.retry_at,
            t.decided_at,
            t.anchor_at,
            t.due_at,
        ).where(t[Columns.PROFILE].in_(chunk))
        known: dict[str, dict[tuple[str, str], Known]] = {}
        sent: dict[str, list[int]] = {}
        for row in conn.execute(query):
            known.setdefault(row.profile_id, {})[(row.trigger, row.anchor)] = Known(
                row.outcome, row.retry_at, row.anchor_at, row.due_at
            )
            if row.outcome in SENT and row.decided_at > now - WEEK_MS:
                sent.setdefault(row.profile_id, []).append(row.decided_at)
        return known, sent

    @staticmethod
    def _scores(conn: sa.Connection, chunk: Sequence[str]) -> dict[str, dict[str, float]]:
        c = customer_scores.c
        query = sa.select(c[Columns.PROFILE], c.name, c.value).where(c[Columns.PROFILE].in_(chunk))
        scores: dict[str, dict[str, float]] = {}
        for row in conn.execute(query):
            scores.setdefault(row.profile_id, {})[row.name] = float(row.value)
        return scores

    @staticmethod
    def _ids(conn: sa.Connection, chunk: Sequence[str]) -> dict[str, str]:
        query = sa.select(identities.c.id_key, identities.c[Columns.PROFILE]).where(
            identities.c[Columns.PROFILE].in_(chunk)
        )
        return {row.id_key: row.profile_id for row in conn.execute(query)}

    @staticmethod
    def _intent(
        conn: sa.Connection, ids: Mapping[str, str], since: int
    ) -> tuple[dict[str, list[tuple[int, str]]], dict[str, list[tuple[int, str, str]]]]:
        """Recent checkouts and wish-list adds by profile (those whose own consent statement
        refuses marketing left out)."""
        anons = [i[2:] for i in ids if i.startswith("a:")]
        users = [i[2:] for i in ids if i.startswith("u:")]
        checkouts: dict[str, list[tuple[int, str]]] = {}
        wishlist: dict[str, list[tuple[int, str, str]]] = {}
        if not ids:
            return checkouts, wishlist
        e = events.c
        query = sa.select(
            e[Columns.TYPE],
            e[Columns.ANONYMOUS],
            e[Columns.USER],
            e[Columns.TIME],
            e[Columns.MESSAGE],
            e[Columns.ITEM],
            e[Columns.CONTEXT],
        ).where(
            shopper_events(),
            e[Columns.TYPE].in_([EventType.CHECKOUT_STARTED, EventType.WISHLIST_ADDED]),
            e[Columns.TIME] >= since,
            sa.or_(e[Columns.ANONYMOUS].in_(anons), e[Columns.USER].in_(users)),
        )
        for row in conn.execute(query).mappings():
            user, anon = row[Columns.USER], row[Columns.ANONYMOUS]
            owner = ids.get(f"u:{user}") if user else ids.get(f"a:{anon}")
            if owner is None or not event_allows(row[Columns.CONTEXT], Purpose.MARKETING):
                continue
            ts, mid = int(row[Columns.TIME]), str(row[Columns.MESSAGE])
            if row[Columns.TYPE] == EventType.CHECKOUT_STARTED:
                checkouts.setdefault(owner, []).append((ts, mid))
            elif row[Columns.ITEM] is not None:
                wishlist.setdefault(owner, []).append((ts, mid, str(row[Columns.ITEM])))
        return checkouts, wishlist

    # -- recording -------------------------------------------------------------------------

    def _record(
        self, loaded: _Loaded, decision: Decision, triggers: TriggerSet, version: int, now: int
    ) -> str:
        """Record ``decision`` (and enqueue its message); the outcome recorded. A fired message
        no channel could send (an address the outbox refuses) is recorded ``undeliverable``
        with the refusal, and the run goes on to the next person."""
        person = loaded.person
        row: dict[str, Any] = {
            "trigger": decision.trigger,
            Columns.PROFILE: person.profile_id,
            "anchor": decision.anchor,
            "outcome": decision.outcome,
            "reason": decision.reason,
            "anchor_at": decision.anchor_at,
            "due_at": decision.due_at,
            "decided_at": now,
            "retry_at": decision.retry_at,
            "trigger_version": version,
            "message_id": None,
            "context": None,
        }
        message = None
        if decision.outcome == FIRED:
            trigger = triggers.named(decision.trigger)
            assert trigger is not None  # the engine decides only for triggers of this set
            message, context = self._message(loaded, trigger, decision, now)
            try:
                check_message(message)
                row["context"] = self._cipher.seal_json(context)
            except InvalidInput as refused:
                message = None  # the reason names the field only: the refusal quotes the address
                fields = ",".join(str(d.get("field")) for d in refused.details or ())
                row.update(outcome=UNDELIVERABLE, reason=f"refused by the outbox: {fields}")
        with write_transaction(self._engine) as conn:
            if message is not None:
                row["message_id"] = self._enqueue(conn, message).message_id
            _upsert(conn, row)
        return str(row["outcome"])

    def _message(
        self, loaded: _Loaded, trigger: TriggerConfig, decision: Decision, now: int
    ) -> tuple[Message, dict[str, Any]]:
        person = loaded.person
        state = person.state
        first_name = self._cipher.open(_trait(state, "first_name"))
        context = self._composer.context(
            trigger,
            person.profile_id,
            state,
            decision.products,
            first_name if isinstance(first_name, str) else None,
            person.scores,
            now,
        )
        rendered = self._templates.render(trigger, context)
        key = idempotency_key(trigger.name, person.profile_id, decision.anchor)
        if trigger.channel == "email":
            destination = str(self._cipher.open(_trait(state, "email")))
            payload: dict[str, Any] = {
                "subject": rendered.subject,
                "text": rendered.text,
                "html": rendered.html,
            }
        else:
            assert trigger.destination is not None  # validated with the trigger
            destination = trigger.destination
            payload = webhook_payload(context, rendered, loaded.user_id, _trait(state, "email"))
        message = Message(
            channel=trigger.channel,
            destination=destination,
            payload=payload,
            idempotency_key=key,
            kind=trigger.name,
            profile_id=person.profile_id,
            purpose=Purpose.MARKETING,
        )
        return message, context


def _changed_profiles(conn: sa.Connection, since: int) -> set[str]:
    query = sa.select(profiles.c.profile_id).where(
        profiles.c.merged_into.is_(None), profiles.c.updated_at >= since
    )
    return set(conn.execute(query).scalars())


def _waking(conn: sa.Connection, now: int) -> set[str]:
    c = trigger_wakeups.c
    return set(conn.execute(sa.select(c[Columns.PROFILE]).where(c.wake_at <= now)).scalars())


def _scored(
    conn: sa.Connection, enabled: Sequence[TriggerConfig], since: int | None
) -> dict[tuple[str, int], set[str]]:
    """Profiles whose win-back score reaches a trigger's threshold (scored since ``since``), by
    trigger name and scoring write: a scoring run writes its rows in one transaction, all with
    one ``scored_at``, so a run that read one of them read all of them."""
    c = customer_scores.c
    found: dict[tuple[str, int], set[str]] = {}
    for t in enabled:
        if t.kind != "win_back" or t.min_score is None:
            continue
        query = sa.select(c[Columns.PROFILE], c.scored_at).where(
            c.name == t.score, c.value >= t.min_score
        )
        if since is not None:
            query = query.where(c.scored_at >= since)
        for profile, scored_at in conn.execute(query):
            found.setdefault((t.name, scored_at), set()).add(profile)
    return found


def _counts(scored: Mapping[tuple[str, int], set[str]]) -> Scorings:
    return {key: len(ids) for key, ids in scored.items()}


def _interested(conn: sa.Connection, changes: Sequence[CatalogChange], lookback: int) -> set[str]:
    """The canonical profiles that viewed or wish-listed a product of ``changes`` within
    ``lookback`` before its change (a superset: the engine checks each change's own window)."""
    e = events.c
    query = sa.select(e[Columns.ANONYMOUS], e[Columns.USER]).where(
        e[Columns.TYPE].in_([EventType.PRODUCT_VIEWED, EventType.WISHLIST_ADDED]),
        e[Columns.ITEM].in_(sorted({change.product_id for change in changes})),
        e[Columns.TIME] >= min(change.changed_at for change in changes) - lookback,
        e[Columns.TIME] <= max(change.changed_at for change in changes),
    )
    keys: set[str] = set()
    for anon, user in conn.execute(query):
        keys.update(key for key in (anon and f"a:{anon}", user and f"u:{user}") if key)
    found: set[str] = set()
    for chunk in _chunks(sorted(keys), BATCH):
        owners = sa.select(identities.c[Columns.PROFILE]).where(identities.c.id_key.in_(chunk))
        found.update(conn.execute(owners).scalars())
    return found


def webhook_payload(
    context: Mapping[str, Any], rendered: Rendered, user_id: str | None, email: Any
) -> dict[str, Any]:
    """What a marketing tool receives: the context, the person's ids and address (in
    ``person.traits``, sealed at rest by the outbox) and the rendered email to send."""
    traits = dict((context.get("person") or {}).get("traits") or {})
    if email:
        traits["email"] = email
    return {
        **context,
        "person": {"profile_id": context["profile_id"], "user_id": user_id, "traits": traits},
        "email": {"subject": rendered.subject, "text": rendered.text, "html": rendered.html},
    }


def _upsert(conn: sa.Connection, row: dict[str, Any]) -> None:
    """Insert the decision, or replace the ``quiet`` one it settles (the only kind revisited)."""
    t = trigger_decisions.c
    key = (
        (t.trigger == row["trigger"])
        & (t[Columns.PROFILE] == row[Columns.PROFILE])
        & (t.anchor == row["anchor"])
    )
    updated = conn.execute(
        trigger_decisions.update().where(key, t.outcome == QUIET).values(**row)
    ).rowcount
    if not updated:
        conn.execute(trigger_decisions.insert().values(**row))


def stored_message(engine: sa.Engine, message_id: str) -> Mapping[str, Any] | None:
    """The decision row of the fired message ``message_id`` (context sealed), or ``None``."""
    query = sa.select(trigger_decisions).where(trigger_decisions.c.message_id == message_id)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return None if row is None else dict(row)


def render_stored(
    row: Mapping[str, Any],
    triggers: VersionedStore[TriggerSet],
    templates: Templates,
    cipher: PiiCipher,
) -> dict[str, Any] | None:
    """A stored message rendered again: with the trigger as it was when it fired (its stored
    version) and today's templates; ``None`` when that trigger is gone from it."""
    stored = triggers.get(int(row["trigger_version"])) or triggers.live()
    trigger = stored.value.named(row["trigger"])
    if trigger is None:
        return None
    context = cipher.open_json(row["context"] or {})
    rendered = templates.render(trigger, context)
    return {
        "message_id": row["message_id"],
        "trigger": row["trigger"],
        "trigger_version": row["trigger_version"],
        Columns.PROFILE: row[Columns.PROFILE],
        "fired_at": row["decided_at"],
        "channel": trigger.channel,
        "recommendation_id": context.get("recommendation_id"),
        "subject": rendered.subject,
        "text": rendered.text,
        "html": rendered.html,
    }
