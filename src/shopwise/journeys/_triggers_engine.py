"""The trigger engine: which triggers are due for one person at one instant, and what to do.

Pure: :func:`due` reads a :class:`Person` (the profile state and what the store knows beside it),
the live :class:`~shopwise.journeys._triggers.TriggerSet`, the recent catalog changes and the
present, and answers one :class:`Decision` per anchor it settles. An anchor is what started a
trigger (the cart, the view, the checkout, the order, the catalog change): a trigger fires at most
once per anchor, for every final decision is remembered and an anchor decided before is not
evaluated again. The steps, in order, for the anchors due now:

1. ``cancelled``: the shopper converted after the anchor (ordered; for a cart, also started a
   checkout; for a view, also added to cart; for a catalog change, bought that product);
2. ``no_consent``: the person does not allow marketing;
3. ``quiet``: it is quiet hours in the shopper's time zone: the anchor waits (``retry_at``, not
   final) and is evaluated again when they end;
4. ``skipped``: another trigger due at once has a higher priority (the reason names it);
5. ``capped``: the person had the day's or the week's messages already;
6. ``holdout``: the person is in the trigger's holdout share (no message, for measurement);
7. ``fired``: a message is sent.

:func:`next_look` answers when a person must be decided again if nothing about them changes, so
the runner can leave everyone else alone until then.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from shopwise.journeys._triggers import QuietHours, TriggerConfig, TriggerSet
from shopwise.profiles import ProfileState
from shopwise.schema import EventType

MINUTE_MS: Final = 60_000
DAY_MS: Final = 1440 * MINUTE_MS
WEEK_MS: Final = 7 * DAY_MS

FIRED, HOLDOUT, CAPPED, QUIET = "fired", "holdout", "capped", "quiet"
CANCELLED, NO_CONSENT, SKIPPED = "cancelled", "no_consent", "skipped"
UNDELIVERABLE: Final = "undeliverable"
"""Fired, but its message could not be sent anywhere (an address no channel takes): recorded
with the reason, final, and no one else's decision waits on it."""
OUTCOMES: Final = (FIRED, HOLDOUT, CAPPED, QUIET, CANCELLED, NO_CONSENT, SKIPPED, UNDELIVERABLE)
SENT: Final = frozenset({FIRED, HOLDOUT})
"""Outcomes that count against the caps: a held-out person lives the same capped life."""

IntervalOf = Callable[[str], float | None]
"""A product's own repurchase interval in days (its ``repurchase_days`` attribute), if any."""


@dataclass(frozen=True)
class CatalogChange:
    """One price or stock change, as the triggers read it.

    ``kind`` is ``price`` (``old`` and ``new``: the effective price) or ``stock`` (``old`` and
    ``new``: whether the product could be bought)."""

    id: int
    product_id: str
    kind: str
    old: Any
    new: Any
    changed_at: int


@dataclass(frozen=True)
class Known:
    """What was decided before for one (trigger, anchor): the outcome and, for ``quiet``, when
    to look again."""

    outcome: str
    retry_at: int | None = None
    anchor_at: int = 0
    due_at: int = 0


@dataclass(frozen=True)
class Person:
    """One canonical profile as the engine sees it.

    Attributes
    ----------
    profile_id
        The canonical profile id.
    state
        The profile's fold of events.
    marketing
        Whether the person allows marketing (the consent policy's answer).
    email
        Whether the profile has an email address (email triggers need one).
    timezone
        The shopper's time zone (their ``timezone`` trait, else the shop's default).
    scores
        Model scores by name (churn propensity for win-back).
    checkouts
        ``(time, message id)`` of recent ``checkout_started`` events.
    wishlist
        ``(time, message id, product id)`` of recent ``wishlist_added`` events.
    sent
        Times of the person's recent ``fired`` and ``holdout`` decisions (for the caps).
    known
        Earlier decisions by ``(trigger name, anchor)``.
    """

    profile_id: str
    state: ProfileState
    marketing: bool
    email: bool
    timezone: ZoneInfo
    scores: Mapping[str, float] = field(default_factory=dict)
    checkouts: Sequence[tuple[int, str]] = ()
    wishlist: Sequence[tuple[int, str, str]] = ()
    sent: Sequence[int] = ()
    known: Mapping[tuple[str, str], Known] = field(default_factory=dict)

    def orders_after(self, ts: int) -> bool:
        return self.state.last_order_at is not None and self.state.last_order_at > ts

    def bought_after(self, product_id: str, ts: int) -> bool:
        return any(e[2] == product_id and e[0] > ts for e in self.state.purchased)


@dataclass(frozen=True)
class Anchor:
    """What started one trigger for one person: its key, time, due time and products."""

    trigger: TriggerConfig
    key: str
    at: int
    due_at: int
    products: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """What the engine decided for one anchor (``retry_at``: when a ``quiet`` one is looked at
    again)."""

    trigger: str
    anchor: str
    anchor_at: int
    due_at: int
    outcome: str
    reason: str | None
    products: tuple[str, ...]
    retry_at: int | None = None


def _cart_at(person: Person, ts: int) -> tuple[str, ...]:
    """The products carted up to ``ts`` since the order before it (at most a week back)."""
    last = person.state.last_order_at
    since = last if last is not None and last < ts else ts - WEEK_MS
    carted = sorted(person.state.carted, key=lambda e: (-e[0], e[1]))
    return tuple(e[2] for e in carted if since < e[0] <= ts)[:5]


def _cart(trigger: TriggerConfig, person: Person) -> list[Anchor]:
    if not person.state.carted:
        return []
    ts, mid, _ = max(person.state.carted, key=lambda e: (e[0], e[1]))
    due = ts + int(trigger.delay_minutes * MINUTE_MS)
    return [Anchor(trigger, f"cart:{mid}", ts, due, _cart_at(person, ts))]


def _browse(trigger: TriggerConfig, person: Person) -> list[Anchor]:
    if not person.state.viewed:
        return []
    ts, mid, product = max(person.state.viewed, key=lambda e: (e[0], e[1]))
    viewed = tuple(e[2] for e in person.state.viewed)[:3]
    due = ts + int(trigger.delay_minutes * MINUTE_MS)
    return [
        Anchor(trigger, f"view:{mid}", ts, due, (product, *(p for p in viewed if p != product)))
    ]


def _checkout(trigger: TriggerConfig, person: Person) -> list[Anchor]:
    if not person.checkouts:
        return []
    ts, mid = max(person.checkouts)
    due = ts + int(trigger.delay_minutes * MINUTE_MS)
    return [Anchor(trigger, f"checkout:{mid}", ts, due, _cart_at(person, ts))]


def _last_order(person: Person) -> tuple[int, str, tuple[str, ...]] | None:
    last = person.state.last_order_at
    lines = [e for e in person.state.purchased if e[0] == last]
    if last is None or not lines:
        return None
    return last, min(e[1] for e in lines), tuple(e[2] for e in lines)


def _cross_sell(trigger: TriggerConfig, person: Person) -> list[Anchor]:
    order = _last_order(person)
    if order is None:
        return []
    ts, mid, products = order
    return [
        Anchor(trigger, f"order:{mid}", ts, ts + int(trigger.delay_minutes * MINUTE_MS), products)
    ]


def _win_back(trigger: TriggerConfig, person: Person) -> list[Anchor]:
    order = _last_order(person)
    score = person.scores.get(trigger.score)
    if order is None or score is None or trigger.min_score is None or score < trigger.min_score:
        return []
    ts, mid, products = order
    due = ts + int(trigger.delay_minutes * MINUTE_MS)
    return [Anchor(trigger, f"lapsed:{mid}", ts, due, products)]


def _replenishment(trigger: TriggerConfig, person: Person, interval_of: IntervalOf) -> list[Anchor]:
    anchors = []
    for ts, mid, product in person.state.purchased:
        days = interval_of(product) or trigger.interval_days
        if days is None:
            continue
        due = ts + int(days * DAY_MS + trigger.delay_minutes * MINUTE_MS)
        anchors.append(Anchor(trigger, f"purchase:{mid}:{product}", ts, due, (product,)))
    return anchors


def _interested(trigger: TriggerConfig, person: Person, product: str, at: int) -> bool:
    since = at - int(trigger.lookback_days * DAY_MS)
    viewed = any(e[2] == product and since <= e[0] <= at for e in person.state.viewed)
    return viewed or any(p == product and since <= ts <= at for ts, _, p in person.wishlist)


def _dropped(trigger: TriggerConfig, change: CatalogChange) -> bool:
    old, new = change.old, change.new
    if (
        change.kind != "price"
        or not isinstance(old, int | float)
        or not isinstance(new, int | float)
    ):
        return False
    return old > 0 and (old - new) / old >= max(trigger.min_drop, 1e-9)


def _restocked(change: CatalogChange) -> bool:
    return change.kind == "stock" and change.old is False and change.new is True


def starts(trigger: TriggerConfig, change: CatalogChange) -> bool:
    """Whether ``change`` starts ``trigger`` for the shoppers interested in its product: a drop
    of at least ``min_drop`` for ``price_drop``, a restock for ``back_in_stock``."""
    if trigger.kind == "price_drop":
        return _dropped(trigger, change)
    return trigger.kind == "back_in_stock" and _restocked(change)


def _catalog(
    trigger: TriggerConfig, person: Person, changes: Sequence[CatalogChange]
) -> list[Anchor]:
    anchors = []
    for change in changes:
        if starts(trigger, change) and _interested(
            trigger, person, change.product_id, change.changed_at
        ):
            due = change.changed_at + int(trigger.delay_minutes * MINUTE_MS)
            key = f"change:{change.id}"
            anchors.append(Anchor(trigger, key, change.changed_at, due, (change.product_id,)))
    return anchors


def anchors_of(
    trigger: TriggerConfig,
    person: Person,
    changes: Sequence[CatalogChange] = (),
    interval_of: IntervalOf = lambda _p: None,
) -> list[Anchor]:
    """Every anchor ``trigger`` has for ``person``, due or not (no audience check)."""
    kind = trigger.kind
    if kind in ("price_drop", "back_in_stock"):
        return _catalog(trigger, person, changes)
    if kind == "replenishment":
        return _replenishment(trigger, person, interval_of)
    finder = {
        "cart_abandonment": _cart,
        "browse_abandonment": _browse,
        "checkout_abandonment": _checkout,
        "cross_sell": _cross_sell,
        "win_back": _win_back,
    }[kind]
    return finder(trigger, person)


def conversion(anchor: Anchor, person: Person) -> str | None:
    """Why the shopper converted after ``anchor`` (which cancels it), or ``None``."""
    kind, at = anchor.trigger.kind, anchor.at
    if kind in ("price_drop", "back_in_stock"):
        return "ordered" if person.bought_after(anchor.products[0], at) else None
    if kind == "replenishment":
        return "ordered" if person.bought_after(anchor.products[0], at) else None
    if person.orders_after(at):
        return "ordered"
    if kind == "cart_abandonment" and any(ts > at for ts, _ in person.checkouts):
        return EventType.CHECKOUT_STARTED.value
    if kind == "browse_abandonment" and any(e[0] > at for e in person.state.carted):
        return EventType.PRODUCT_ADDED.value
    return None


def _audience(trigger: TriggerConfig, state: ProfileState, email: bool) -> bool:
    audience = trigger.audience
    orders = state.counts.get(EventType.ORDER_COMPLETED, 0)
    if audience.min_orders is not None and orders < audience.min_orders:
        return False
    if audience.max_orders is not None and orders > audience.max_orders:
        return False
    return trigger.channel != "email" or email


def reachable(
    triggers: TriggerSet, state: ProfileState, email: bool, known: Mapping[Any, Known]
) -> bool:
    """Whether :func:`due` or :func:`next_look` could answer anything for a person: an enabled
    trigger's audience holds them (``email``: they have an address), or a wait of theirs for
    quiet hours is to be settled. For anyone else both answer nothing, whatever their history."""
    if any(k.outcome == QUIET for k in known.values()):
        return True
    return any(_audience(t, state, email) for t in triggers.enabled())


def _open(anchor: Anchor, person: Person, now: int) -> bool:
    """Due now and not settled: never decided, or waiting for quiet hours to end (a waiting
    message does not expire while it waits)."""
    known = person.known.get((anchor.trigger.name, anchor.key))
    if known is not None:
        return known.outcome == QUIET and (known.retry_at or 0) <= now
    expires = anchor.due_at + int(anchor.trigger.expires_minutes * MINUTE_MS)
    return anchor.due_at <= now < expires


def quiet_until(quiet: QuietHours | None, zone: ZoneInfo, now: int) -> int | None:
    """When the quiet hours around ``now`` end (epoch ms), or ``None`` outside them."""
    if quiet is None or quiet.start == quiet.end:
        return None
    local = datetime.fromtimestamp(now / 1000, UTC).astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    start, end = quiet.start, quiet.end
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    ends = datetime.combine(local.date(), end, tzinfo=zone)
    if ends <= local:
        ends = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return int(ends.timestamp() * 1000)


def in_holdout(trigger: TriggerConfig, profile_id: str) -> bool:
    """Whether ``profile_id`` is in ``trigger``'s holdout: a salted SHA-256 of the profile id read
    as a uniform number in [0, 1), below the holdout share."""
    salt = trigger.holdout_salt or trigger.name
    digest = hashlib.sha256(f"{salt}:{profile_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < trigger.holdout


def _capped(triggers: TriggerSet, person: Person, now: int) -> str | None:
    day = sum(1 for t in person.sent if t > now - DAY_MS)
    week = sum(1 for t in person.sent if t > now - WEEK_MS)
    if day >= triggers.caps.per_day:
        return "per_day"
    if week >= triggers.caps.per_week:
        return "per_week"
    return None


def _decision(
    anchor: Anchor, outcome: str, reason: str | None, retry: int | None = None
) -> Decision:
    return Decision(
        anchor.trigger.name,
        anchor.key,
        anchor.at,
        anchor.due_at,
        outcome,
        reason,
        anchor.products,
        retry,
    )


def _newest_per_trigger(anchors: list[Anchor]) -> list[Anchor]:
    """One anchor per trigger, its newest: the others stay open for a later run (a trigger with
    several due products sends one message at a time, within the caps)."""
    newest: dict[str, Anchor] = {}
    for anchor in anchors:
        known = newest.get(anchor.trigger.name)
        if known is None or (anchor.at, anchor.key) > (known.at, known.key):
            newest[anchor.trigger.name] = anchor
    return list(newest.values())


def _superseded(person: Person, found: Mapping[str, list[Anchor]], now: int) -> list[Decision]:
    """``cancelled`` (reason ``superseded``) for each anchor waiting for quiet hours to end that
    its trigger no longer has: the shopper filled a newer cart (or viewed, checked out) since, and
    the newer one is decided in its place. Without this the old row would wait for good."""
    current = {(name, anchor.key) for name, anchors in found.items() for anchor in anchors}
    return [
        Decision(name, key, known.anchor_at, known.due_at, CANCELLED, "superseded", ())
        for (name, key), known in sorted(person.known.items())
        if known.outcome == QUIET
        and (known.retry_at or 0) <= now
        and name in found
        and (name, key) not in current
    ]


def due(
    person: Person,
    triggers: TriggerSet,
    now: int,
    changes: Sequence[CatalogChange] = (),
    interval_of: IntervalOf = lambda _p: None,
) -> list[Decision]:
    """The decisions for ``person`` at ``now`` (epoch ms), in the order of the module docstring.

    Parameters
    ----------
    person
        The profile and what the store knows beside it.
    triggers
        The live trigger set (disabled triggers are left out).
    now
        The present (a fake clock in tests).
    changes
        Recent catalog changes (price drops, restocks).
    interval_of
        A product's own repurchase interval in days, if it has one.
    """
    enabled = triggers.enabled()
    found = {trigger.name: anchors_of(trigger, person, changes, interval_of) for trigger in enabled}
    anchors = [
        anchor
        for trigger in enabled
        if _audience(trigger, person.state, person.email)
        for anchor in found[trigger.name]
        if _open(anchor, person, now)
    ]
    decisions = _superseded(person, found, now)
    live: list[Anchor] = []
    for anchor in anchors:
        reason = conversion(anchor, person)
        if reason is not None:
            decisions.append(_decision(anchor, CANCELLED, reason))
        elif not person.marketing:
            decisions.append(_decision(anchor, NO_CONSENT, "marketing"))
        else:
            live.append(anchor)
    live = _newest_per_trigger(live)
    if not live:
        return decisions
    retry = quiet_until(triggers.quiet_hours, person.timezone, now)
    if retry is not None:
        return decisions + [_decision(a, QUIET, "quiet_hours", retry) for a in live]
    live.sort(key=lambda a: (-a.trigger.priority, -a.at, a.trigger.name, a.key))
    winner, *others = live
    decisions += [_decision(a, SKIPPED, f"priority:{winner.trigger.name}") for a in others]
    cap = _capped(triggers, person, now)
    if cap is not None:
        decisions.append(_decision(winner, CAPPED, cap))
    elif in_holdout(winner.trigger, person.profile_id):
        decisions.append(_decision(winner, HOLDOUT, None))
    else:
        decisions.append(_decision(winner, FIRED, None))
    return decisions


def next_look(
    person: Person,
    triggers: TriggerSet,
    now: int,
    decisions: Sequence[Decision],
    changes: Sequence[CatalogChange] = (),
    interval_of: IntervalOf = lambda _p: None,
) -> int | None:
    """When :func:`due` must see ``person`` again if nothing about them changes, given the
    ``decisions`` it made at ``now``: the earliest due time of an anchor still open (at or
    before ``now`` for one it left for a later run) and the end of each wait for quiet hours it
    would settle; ``None`` when no anchor waits. Only a change of the person (their profile,
    scores or events) or of the catalog can bring an earlier one, and those are looked at anyway.
    """
    settled: dict[tuple[str, str], Known | Decision] = dict(person.known)
    settled.update(((d.trigger, d.anchor), d) for d in decisions)
    times: list[int] = []
    for trigger in triggers.enabled():
        anchors = anchors_of(trigger, person, changes, interval_of)
        current = {anchor.key for anchor in anchors}
        times += [  # superseded while waiting: cancelled when the wait ends
            known.retry_at or 0
            for (name, key), known in settled.items()
            if name == trigger.name and key not in current and known.outcome == QUIET
        ]
        if not _audience(trigger, person.state, person.email):
            continue
        for anchor in anchors:
            known = settled.get((trigger.name, anchor.key))
            if known is None:
                if now < anchor.due_at + int(trigger.expires_minutes * MINUTE_MS):
                    times.append(anchor.due_at)
            elif known.outcome == QUIET:
                times.append(known.retry_at or 0)
    return min(times, default=None)
