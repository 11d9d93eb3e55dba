"""The unified profile as a commutative fold of events.

A profile's state is built by :meth:`ProfileState.apply` over its events and two states combine
with :meth:`ProfileState.merge`. Every part of the fold is order-independent (sums, unions, min/max,
last-writer-wins by event time with the message id as tie-break, top-N by time), so the profile is
the same whatever order events, identifies and aliases arrive in, and merging two profiles equals
folding their events together. Money is kept in integer cents for exact sums.

Traits keep their provenance: a trait set by a verified source (a secret key, or a write key with a
valid ``user_hash``: the collector's verdict on the event) outranks every claimed one whatever their
times, so a browser that merely claims a user id never overwrites what the shop's backend set.
Ranking by (verified, time, message id) is still a total order, so the fold stays commutative.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from shopwise.bus import StoredEvent
from shopwise.collect import IDENTITY, VERIFIED
from shopwise.schema import DO_NOT_SELL, ITEM_EVENT_WEIGHTS, Columns, EventType

RECENT: Final = 20
"""How many recently viewed, carted and purchased products a profile keeps."""

ItemInfo = Callable[[str], tuple[str | None, str | None]]
"""Category and brand of a product id (from the catalog), used for affinities."""

_N = TypeVar("_N", int, float)

Stamp = tuple[int, str]


def verified(context: Mapping[str, Any] | None) -> bool:
    """Whether an event's user id is proven (the collector's verdict; events stored before
    verification existed count as claimed)."""
    return (context or {}).get(IDENTITY) == VERIFIED


def stated_choices(
    context: Mapping[str, Any] | None, ts: int, message_id: str
) -> dict[str, list[Any]]:
    """The choices an event's consent statement (``context.consent``) makes, in the profile's
    form: ``[granted, ts, message_id]`` per purpose and for ``do_not_sell``."""
    consent = (context or {}).get(Columns.CONSENT)
    if not isinstance(consent, Mapping):
        return {}
    stated: dict[str, Any] = dict(consent.get("purposes") or {})
    if consent.get(DO_NOT_SELL) is not None:
        stated[DO_NOT_SELL] = consent[DO_NOT_SELL]
    return {purpose: [bool(granted), ts, message_id] for purpose, granted in stated.items()}


"""(event time in ms, message id): the order in which facts overwrite each other."""


def _cents(value: Any) -> int:
    return round(float(value) * 100) if isinstance(value, int | float) else 0


def _top_recent(entries: list[list[Any]]) -> list[list[Any]]:
    """Newest distinct products first: entries are ``[ts, message_id, product_id]``."""
    seen: set[str] = set()
    result = []
    for entry in sorted(entries, key=lambda e: (-e[0], e[1], e[2])):
        if entry[2] not in seen:
            seen.add(entry[2])
            result.append(entry)
        if len(result) == RECENT:
            break
    return result


def _add(target: dict[str, float], key: str | None, weight: float) -> None:
    if key:
        target[key] = target.get(key, 0.0) + weight


def _newer(current: list[Any] | None, stamp: Stamp) -> bool:
    return current is None or (current[1], current[2]) < stamp


def _trait_rank(entry: list[Any]) -> tuple[bool, int, str]:
    """A trait entry's rank: verified ones first, then by time (entries kept before provenance
    existed have four fields and count as claimed)."""
    return (len(entry) > 4 and bool(entry[4]), entry[1], entry[2])


def _outranks(entry: list[Any], known: list[Any] | None) -> bool:
    return known is None or _trait_rank(known) < _trait_rank(entry)


def latest_traits(*sets: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """The winning entry per trait among ``[value, ts, message_id, source, verified]`` entries."""
    result: dict[str, list[Any]] = {}
    for entries in sets:
        for name, entry in entries.items():
            if _outranks(entry, result.get(name)):
                result[name] = entry
    return result


@dataclass
class ProfileState:
    """Counters, recency lists, affinities, traits and consent of one profile (see module doc)."""

    first_seen: int | None = None
    last_seen: int | None = None
    events: int = 0
    sessions: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    revenue_cents: int = 0
    refunded_cents: int = 0
    first_order_at: int | None = None
    last_order_at: int | None = None
    viewed: list[list[Any]] = field(default_factory=list)
    carted: list[list[Any]] = field(default_factory=list)
    purchased: list[list[Any]] = field(default_factory=list)
    categories: dict[str, float] = field(default_factory=dict)
    brands: dict[str, float] = field(default_factory=dict)
    traits: dict[str, list[Any]] = field(default_factory=dict)
    """name -> [value, ts, message_id, source, verified] (see :func:`latest_traits`)"""
    consent: dict[str, list[Any]] = field(default_factory=dict)
    """purpose (or ``do_not_sell``) -> [granted, ts, message_id]"""
    watermark: int = 0
    """The highest event id folded in."""
    verified_ids: set[str] = field(default_factory=set)
    """Anonymous ids whose link to this profile's user id was verified: the browsers a write key
    may personalize from this profile (a claimed link only stitches, for analytics)."""

    def apply(self, event: StoredEvent, item_info: ItemInfo | None = None) -> list[str]:
        """Fold one event into the state; returns the consent purposes whose choice it changed."""
        ts, mid = event.timestamp, event.message_id
        self.first_seen = ts if self.first_seen is None else min(self.first_seen, ts)
        self.last_seen = ts if self.last_seen is None else max(self.last_seen, ts)
        self.events += 1
        self.watermark = max(self.watermark, event.id)
        self.counts[event.type] = self.counts.get(event.type, 0) + 1
        if event.session_id:
            self.sessions.add(event.session_id)
        changed = self._apply_consent(stated_choices(event.context, ts, mid))
        props = event.properties
        proven = event.user_id is not None and verified(event.context)
        if proven:
            self._apply_verified_links(event)
        if event.type == EventType.IDENTIFY:
            source = str(props.get("source", "identify"))
            for name, value in (props.get("traits") or {}).items():
                entry = [value, ts, mid, source, proven]
                if _outranks(entry, self.traits.get(name)):
                    self.traits[name] = entry
        elif event.type == EventType.ORDER_COMPLETED:
            self._apply_order(props, ts, mid, item_info)
        elif event.type == EventType.ORDER_REFUNDED:
            self.refunded_cents += _cents(props.get(Columns.REVENUE))
        self._apply_item(event, item_info)
        return changed

    def _apply_verified_links(self, event: StoredEvent) -> None:
        if event.anonymous_id is not None:
            self.verified_ids.add(event.anonymous_id)
        previous = event.properties.get("previous_id") if event.type == EventType.ALIAS else None
        if isinstance(previous, str) and previous and previous != event.user_id:
            self.verified_ids.add(previous)

    def _apply_consent(self, stated: dict[str, list[Any]]) -> list[str]:
        changed = []
        for purpose, choice in stated.items():
            known = self.consent.get(purpose)
            if _newer(known, (choice[1], choice[2])):
                if known is None or known[0] != choice[0]:
                    changed.append(purpose)
                self.consent[purpose] = choice
        return changed

    def _apply_order(
        self, props: dict[str, Any], ts: int, mid: str, item_info: ItemInfo | None
    ) -> None:
        self.revenue_cents += _cents(props.get(Columns.REVENUE))
        self.first_order_at = ts if self.first_order_at is None else min(self.first_order_at, ts)
        self.last_order_at = ts if self.last_order_at is None else max(self.last_order_at, ts)
        weight = ITEM_EVENT_WEIGHTS[EventType.ORDER_COMPLETED]
        for line in props.get("products") or []:
            product = str(line.get(Columns.ITEM))
            self.purchased = _top_recent([*self.purchased, [ts, mid, product]])
            self._affinity(product, line, weight, item_info)

    def _apply_item(self, event: StoredEvent, item_info: ItemInfo | None) -> None:
        product = event.product_id
        weight = ITEM_EVENT_WEIGHTS.get(event.type)
        if product is None or weight is None:
            return
        entry = [event.timestamp, event.message_id, product]
        if event.type == EventType.PRODUCT_VIEWED:
            self.viewed = _top_recent([*self.viewed, entry])
        elif event.type == EventType.PRODUCT_ADDED:
            self.carted = _top_recent([*self.carted, entry])
        self._affinity(product, event.properties, weight, item_info)

    def _affinity(
        self, product: str, props: dict[str, Any], weight: float, item_info: ItemInfo | None
    ) -> None:
        category, brand = props.get(Columns.CATEGORY), props.get(Columns.BRAND)
        if (category is None or brand is None) and item_info is not None:
            known_category, known_brand = item_info(product)
            category, brand = category or known_category, brand or known_brand
        _add(self.categories, category, weight)
        _add(self.brands, brand, weight)

    def merge(self, other: ProfileState) -> ProfileState:
        """The state of both profiles' events together (used when identities merge)."""
        merged = ProfileState(
            first_seen=_min(self.first_seen, other.first_seen),
            last_seen=_max(self.last_seen, other.last_seen),
            events=self.events + other.events,
            sessions=self.sessions | other.sessions,
            counts=_sum(self.counts, other.counts),
            revenue_cents=self.revenue_cents + other.revenue_cents,
            refunded_cents=self.refunded_cents + other.refunded_cents,
            first_order_at=_min(self.first_order_at, other.first_order_at),
            last_order_at=_max(self.last_order_at, other.last_order_at),
            viewed=_top_recent(self.viewed + other.viewed),
            carted=_top_recent(self.carted + other.carted),
            purchased=_top_recent(self.purchased + other.purchased),
            categories=_sum(self.categories, other.categories),
            brands=_sum(self.brands, other.brands),
            traits=latest_traits(self.traits, other.traits),
            consent=latest(self.consent, other.consent),
            watermark=max(self.watermark, other.watermark),
            verified_ids=self.verified_ids | other.verified_ids,
        )
        return merged

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["sessions"] = sorted(self.sessions)
        data["verified_ids"] = sorted(self.verified_ids)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProfileState:
        state = cls(**data)
        state.sessions = set(data["sessions"])
        state.verified_ids = set(data.get("verified_ids", ()))
        return state


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _sum(a: dict[str, _N], b: dict[str, _N]) -> dict[str, _N]:
    result = dict(a)
    for key, value in b.items():
        result[key] = result[key] + value if key in result else value
    return result


def latest(*sets: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """The newest entry per key among dated entries (``[value, ts, message_id, ...]``): consent
    choices, traits."""
    result: dict[str, list[Any]] = {}
    for entries in sets:
        for key, value in entries.items():
            if _newer(result.get(key), (value[1], value[2])):
                result[key] = value
    return result
