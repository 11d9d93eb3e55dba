"""The trigger engine with a fake clock: each trigger fires exactly when due, at most once per
anchor, never without consent, over a cap, in quiet hours or after conversion; priorities and the
holdout share."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shopwise.journeys import (
    CatalogChange,
    Decision,
    Known,
    Person,
    QuietHours,
    TriggerConfig,
    TriggerSet,
    due,
    in_holdout,
    next_look,
    quiet_until,
    reachable,
)
from shopwise.profiles import ProfileState

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = int(datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp() * 1000)
"""A Monday noon UTC: outside the default quiet hours in UTC."""
UTC_ZONE = ZoneInfo("UTC")


def trigger(kind: str, **fields: Any) -> TriggerConfig:
    fields.setdefault("holdout", 0.0)
    fields.setdefault("name", kind)
    return TriggerConfig.model_validate({"kind": kind, **fields})


def trigger_set(*triggers: TriggerConfig, **fields: Any) -> TriggerSet:
    return TriggerSet.model_validate(
        {"triggers": [t.model_dump() for t in triggers], "quiet_hours": None, **fields}
    )


def person(state: ProfileState | None = None, **fields: Any) -> Person:
    values: dict[str, Any] = {
        "profile_id": "p-1",
        "state": state or ProfileState(),
        "marketing": True,
        "email": True,
        "timezone": UTC_ZONE,
    }
    return Person(**{**values, **fields})


def ordered(state: ProfileState, at: int, product: str = "sku-1", mid: str = "o1") -> None:
    state.purchased.append([at, mid, product])
    state.last_order_at = max(state.last_order_at or 0, at)
    state.counts["order_completed"] = state.counts.get("order_completed", 0) + 1


def carted(at: int = T0, product: str = "sku-1", mid: str = "c1") -> ProfileState:
    return ProfileState(carted=[[at, mid, product]], last_seen=at)


SCENARIOS: dict[str, tuple[TriggerConfig, int]] = {
    "cart_abandonment": (trigger("cart_abandonment", delay_minutes=60), T0 + HOUR),
    "browse_abandonment": (trigger("browse_abandonment", delay_minutes=120), T0 + 2 * HOUR),
    "checkout_abandonment": (trigger("checkout_abandonment", delay_minutes=30), T0 + 30 * MIN),
    "cross_sell": (trigger("cross_sell", delay_minutes=3 * 1440), T0 + 3 * DAY),
    "win_back": (
        trigger("win_back", delay_minutes=30 * 1440, min_score=0.7, expires_minutes=99_999),
        T0 + 30 * DAY,
    ),
    "replenishment": (trigger("replenishment", delay_minutes=0, interval_days=30), T0 + 30 * DAY),
    "price_drop": (trigger("price_drop", delay_minutes=15, min_drop=0.1), T0 + HOUR + 15 * MIN),
    "back_in_stock": (trigger("back_in_stock", delay_minutes=30), T0 + 2 * HOUR + 30 * MIN),
}


def scenario(kind: str) -> tuple[Person, list[CatalogChange]]:
    """A person for whom ``kind`` is due at its scenario's time (and nothing converts)."""
    state = ProfileState()
    changes: list[CatalogChange] = []
    extra: dict[str, Any] = {}
    if kind == "cart_abandonment":
        state = carted()
    elif kind == "browse_abandonment":
        state.viewed = [[T0, "v1", "sku-1"]]
    elif kind == "checkout_abandonment":
        state = carted(T0 - MIN)
        extra["checkouts"] = [(T0, "k1")]
    elif kind in ("cross_sell", "win_back", "replenishment"):
        ordered(state, T0)
        extra["scores"] = {"churn_90d": 0.9}
    elif kind == "price_drop":
        state.viewed = [[T0, "v1", "sku-1"]]
        changes = [CatalogChange(7, "sku-1", "price", 100.0, 80.0, T0 + HOUR)]
    elif kind == "back_in_stock":
        extra["wishlist"] = [(T0, "w1", "sku-1")]
        changes = [CatalogChange(8, "sku-1", "stock", False, True, T0 + 2 * HOUR)]
    return person(state, **extra), changes


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_each_trigger_fires_exactly_when_due(kind: str) -> None:
    config, when = SCENARIOS[kind]
    who, changes = scenario(kind)
    triggers = trigger_set(config)

    assert due(who, triggers, when - 1, changes) == []
    decisions = due(who, triggers, when, changes)
    assert [(d.trigger, d.outcome) for d in decisions] == [(kind, "fired")]
    assert decisions[0].due_at == when
    assert "sku-1" in decisions[0].products


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_a_decided_anchor_never_fires_again(kind: str) -> None:
    config, when = SCENARIOS[kind]
    who, changes = scenario(kind)
    (fired,) = due(who, trigger_set(config), when, changes)
    again = person(who.state, **_extras(who), known={(fired.trigger, fired.anchor): Known("fired")})
    assert due(again, trigger_set(config), when + MIN, changes) == []


def _extras(who: Person) -> dict[str, Any]:
    return {"checkouts": who.checkouts, "wishlist": who.wishlist, "scores": who.scores}


def test_a_new_anchor_fires_again_after_the_last_one() -> None:
    config = trigger("cart_abandonment", delay_minutes=60)
    first = person(carted(T0, mid="c1"))
    (decision,) = due(first, trigger_set(config), T0 + HOUR)
    state = carted(T0, mid="c1")
    state.carted.append([T0 + DAY, "c2", "sku-2"])
    later = person(state, known={(decision.trigger, decision.anchor): Known("fired")})
    assert due(later, trigger_set(config), T0 + DAY + 59 * MIN) == []
    (second,) = due(later, trigger_set(config), T0 + DAY + HOUR)
    assert second.anchor == "cart:c2" and second.outcome == "fired"


def test_a_trigger_is_not_fired_after_it_expired() -> None:
    config = trigger("cart_abandonment", delay_minutes=60, expires_minutes=120)
    assert due(person(carted()), trigger_set(config), T0 + 3 * HOUR) == []
    assert due(person(carted()), trigger_set(config), T0 + 3 * HOUR - 1)[0].outcome == "fired"


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_never_without_marketing_consent(kind: str) -> None:
    config, when = SCENARIOS[kind]
    who, changes = scenario(kind)
    refused = person(who.state, marketing=False, **_extras(who))
    decisions = due(refused, trigger_set(config), when, changes)
    assert [(d.outcome, d.reason) for d in decisions] == [("no_consent", "marketing")]


def test_never_over_the_daily_or_weekly_cap() -> None:
    config = trigger("cart_abandonment", delay_minutes=60)
    now = T0 + HOUR
    capped_day = person(carted(), sent=[now - 23 * HOUR])
    capped_week = person(carted(), sent=[now - 2 * DAY, now - 3 * DAY, now - 6 * DAY])
    free = person(carted(), sent=[now - 25 * HOUR, now - 8 * DAY, now - 9 * DAY])
    triggers = trigger_set(config, caps={"per_day": 1, "per_week": 3})

    assert [(d.outcome, d.reason) for d in due(capped_day, triggers, now)] == [
        ("capped", "per_day")
    ]
    assert [(d.outcome, d.reason) for d in due(capped_week, triggers, now)] == [
        ("capped", "per_week")
    ]
    assert [d.outcome for d in due(free, triggers, now)] == ["fired"]


def test_never_in_quiet_hours_and_sent_when_they_end() -> None:
    """Due at 21:30 in New York (02:30 UTC): waits until 08:00 there, then fires."""
    new_york = ZoneInfo("America/New_York")
    start = int(datetime(2026, 1, 6, 1, 30, tzinfo=UTC).timestamp() * 1000)
    config = trigger("cart_abandonment", delay_minutes=60, expires_minutes=120)
    triggers = trigger_set(config, quiet_hours={"start": "21:00", "end": "08:00"})
    who = person(carted(start), timezone=new_york)

    (waiting,) = due(who, triggers, start + HOUR)
    ends = int(datetime(2026, 1, 6, 8, 0, tzinfo=new_york).timestamp() * 1000)
    assert (waiting.outcome, waiting.retry_at) == ("quiet", ends)

    known = {(waiting.trigger, waiting.anchor): Known("quiet", ends)}
    waiting_person = person(who.state, timezone=new_york, known=known)
    assert due(waiting_person, triggers, ends - 1) == []
    # hours past the trigger's expiry: a waiting message does not expire
    assert [d.outcome for d in due(waiting_person, triggers, ends)] == ["fired"]
    # the same instant is not quiet for a shopper in Tokyo (11:30 there)
    tokyo = person(carted(start), timezone=ZoneInfo("Asia/Tokyo"))
    assert [d.outcome for d in due(tokyo, triggers, start + HOUR)] == ["fired"]


def test_a_waiting_cart_superseded_by_a_newer_one_is_settled_not_left_waiting() -> None:
    """A cart waits for quiet hours; the shopper fills a newer one meanwhile: when the hours
    end the old row is cancelled as superseded and the newer cart is decided in its place."""
    start = int(datetime(2026, 1, 6, 22, 0, tzinfo=UTC).timestamp() * 1000)
    triggers = trigger_set(
        trigger("cart_abandonment", delay_minutes=60),
        quiet_hours={"start": "21:00", "end": "08:00"},
    )
    (waiting,) = due(person(carted(start)), triggers, start + HOUR)
    assert waiting.outcome == "quiet" and waiting.retry_at is not None
    state = carted(start)
    state.carted.append([start + 2 * HOUR, "c2", "sku-2"])
    known = {
        (waiting.trigger, waiting.anchor): Known("quiet", waiting.retry_at, start, start + HOUR)
    }
    decided = due(person(state, known=known), triggers, waiting.retry_at)
    assert [(d.anchor, d.outcome, d.reason) for d in decided] == [
        ("cart:c1", "cancelled", "superseded"),
        ("cart:c2", "fired", None),
    ]
    assert (decided[0].anchor_at, decided[0].due_at) == (start, start + HOUR)  # kept as decided
    before = due(person(state, known=known), triggers, waiting.retry_at - 1)
    assert [(d.anchor, d.outcome) for d in before] == [("cart:c2", "quiet")]  # c1 waits on


def test_quiet_hours_within_one_day_and_none() -> None:
    lunch = QuietHours(start=time(12, 0), end=time(14, 0))
    assert quiet_until(lunch, UTC_ZONE, T0) == T0 + 2 * HOUR
    assert quiet_until(lunch, UTC_ZONE, T0 + 2 * HOUR) is None
    assert quiet_until(QuietHours(start=time(9), end=time(9)), UTC_ZONE, T0) is None
    assert quiet_until(None, UTC_ZONE, T0) is None


def test_never_after_conversion() -> None:
    config = trigger("cart_abandonment", delay_minutes=60)
    bought = carted()
    ordered(bought, T0 + 10 * MIN, mid="o9")
    checked_out = person(carted(), checkouts=[(T0 + 5 * MIN, "k1")])

    assert [(d.outcome, d.reason) for d in due(person(bought), trigger_set(config), T0 + HOUR)] == [
        ("cancelled", "ordered")
    ]
    assert [(d.outcome, d.reason) for d in due(checked_out, trigger_set(config), T0 + HOUR)] == [
        ("cancelled", "checkout_started")
    ]


@pytest.mark.parametrize("kind", ["price_drop", "back_in_stock", "browse_abandonment"])
def test_catalog_and_browse_triggers_cancel_on_purchase(kind: str) -> None:
    config, when = SCENARIOS[kind]
    who, changes = scenario(kind)
    ordered(who.state, when - MIN, "sku-1", mid="o5")
    (decision,) = due(who, trigger_set(config), when, changes)
    assert decision.outcome == "cancelled"


def test_priorities_pick_one_and_skip_the_others_with_the_reason() -> None:
    cart = trigger("cart_abandonment", delay_minutes=60, priority=90)
    browse = trigger("browse_abandonment", delay_minutes=60, priority=50)
    state = carted()
    state.viewed = [[T0, "v1", "sku-1"]]
    decisions = {d.trigger: d for d in due(person(state), trigger_set(browse, cart), T0 + HOUR)}
    assert decisions["cart_abandonment"].outcome == "fired"
    assert (decisions["browse_abandonment"].outcome, decisions["browse_abandonment"].reason) == (
        "skipped",
        "priority:cart_abandonment",
    )


def test_disabled_triggers_and_audiences() -> None:
    off = trigger("cart_abandonment", delay_minutes=60, enabled=False)
    buyers = trigger("cart_abandonment", delay_minutes=60, audience={"min_orders": 1})
    assert due(person(carted()), trigger_set(off), T0 + HOUR) == []
    assert due(person(carted()), trigger_set(buyers), T0 + HOUR) == []
    no_address = person(carted(), email=False)
    assert due(no_address, trigger_set(trigger("cart_abandonment")), T0 + HOUR) == []
    hook = trigger("cart_abandonment", channel="webhook", destination="https://tools.example/h")
    assert due(no_address, trigger_set(hook), T0 + HOUR)[0].outcome == "fired"


def test_win_back_needs_the_churn_score_over_its_threshold() -> None:
    config, when = SCENARIOS["win_back"]
    who, _ = scenario("win_back")
    loyal = person(who.state, scores={"churn_90d": 0.2})
    assert due(loyal, trigger_set(config), when) == []
    assert due(person(who.state), trigger_set(config), when) == []


def test_replenishment_reads_the_products_own_interval() -> None:
    config = trigger("replenishment", delay_minutes=0, interval_days=30)
    state = ProfileState()
    ordered(state, T0, "coffee")
    who = person(state)

    def every_week(product: str) -> float | None:
        return 7.0 if product == "coffee" else None

    assert due(who, trigger_set(config), T0 + 7 * DAY - 1, interval_of=every_week) == []
    (decision,) = due(who, trigger_set(config), T0 + 7 * DAY, interval_of=every_week)
    assert decision.products == ("coffee",)


def test_a_small_price_change_is_not_a_drop() -> None:
    config = trigger("price_drop", delay_minutes=0, min_drop=0.1)
    who, _ = scenario("price_drop")
    small = [CatalogChange(9, "sku-1", "price", 100.0, 95.0, T0 + HOUR)]
    up = [CatalogChange(10, "sku-1", "price", 100.0, 120.0, T0 + HOUR)]
    assert due(who, trigger_set(config), T0 + HOUR, small) == []
    assert due(who, trigger_set(config), T0 + HOUR, up) == []


def test_the_holdout_share_is_honoured_and_recorded() -> None:
    config = trigger("cart_abandonment", delay_minutes=60, holdout=0.2)
    ids = [f"profile-{i}" for i in range(4000)]
    held = [i for i in ids if in_holdout(config, i)]
    assert abs(len(held) / len(ids) - 0.2) < 0.025
    # sticky: the same people every time; a new salt draws another group of the same size
    assert held == [i for i in ids if in_holdout(config, i)]
    resalted = trigger("cart_abandonment", holdout=0.2, holdout_salt="spring")
    other = {i for i in ids if in_holdout(resalted, i)}
    assert other != set(held) and abs(len(other) / len(ids) - 0.2) < 0.025

    outcomes = {
        pid: due(person(carted(), profile_id=pid), trigger_set(config), T0 + HOUR)[0].outcome
        for pid in ids[:500]
    }
    assert {p for p, o in outcomes.items() if o == "holdout"} == set(held) & set(ids[:500])
    assert set(outcomes.values()) == {"fired", "holdout"}


@settings(max_examples=200, deadline=None)
@given(
    delay=st.integers(min_value=0, max_value=3000),
    offset=st.integers(min_value=-2 * DAY, max_value=5 * DAY),
    marketing=st.booleans(),
    ordered_after=st.one_of(st.none(), st.integers(min_value=1, max_value=DAY)),
    zone_name=st.sampled_from(["UTC", "America/New_York", "Asia/Tokyo", "Europe/Paris"]),
    sent=st.lists(st.integers(min_value=0, max_value=8 * DAY), max_size=5),
)
def test_fired_only_when_due_consented_uncapped_awake_and_unconverted(
    delay: int,
    offset: int,
    marketing: bool,
    ordered_after: int | None,
    zone_name: str,
    sent: list[int],
) -> None:
    config = trigger("cart_abandonment", delay_minutes=delay)
    triggers = trigger_set(
        config, caps={"per_day": 1, "per_week": 2}, quiet_hours={"start": "22:00", "end": "07:00"}
    )
    state = carted()
    now = T0 + delay * MIN + offset
    order_at = None if ordered_after is None else T0 + ordered_after
    if order_at is not None and order_at <= now:  # the state at ``now`` holds the past only
        ordered(state, order_at, mid="o2")
    else:
        order_at = None
    tz = ZoneInfo(zone_name)
    who = person(state, marketing=marketing, timezone=tz, sent=[now - s for s in sent])
    for decision in due(who, triggers, now):
        if decision.outcome != "fired":
            continue
        assert now >= T0 + delay * MIN
        assert marketing
        assert order_at is None
        assert quiet_until(triggers.quiet_hours, tz, now) is None
        assert sum(1 for s in sent if s < DAY) < 1 and sum(1 for s in sent if s < 7 * DAY) < 2


def _settle(
    who: Person, decisions: list[Decision], now: int, state: ProfileState | None = None
) -> Person:
    """``who`` as the store has them after ``decisions`` are recorded at ``now`` (and their
    profile changed to ``state``)."""
    known = dict(who.known)
    for d in decisions:
        known[(d.trigger, d.anchor)] = Known(d.outcome, d.retry_at, d.anchor_at, d.due_at)
    sent = [*who.sent, *(now for d in decisions if d.outcome in ("fired", "holdout"))]
    return person(
        state or who.state, **_extras(who), marketing=who.marketing, known=known, sent=sent
    )


@settings(max_examples=150, deadline=None)
@given(
    carts=st.lists(st.integers(min_value=0, max_value=3 * DAY), max_size=3),
    views=st.lists(st.integers(min_value=0, max_value=3 * DAY), max_size=3),
    orders=st.lists(st.integers(min_value=0, max_value=3 * DAY), max_size=2),
    checkout=st.one_of(st.none(), st.integers(min_value=0, max_value=3 * DAY)),
    marketing=st.booleans(),
    later_cart=st.integers(min_value=0, max_value=3 * DAY),
    runs=st.lists(st.integers(min_value=0, max_value=40 * DAY), min_size=1, max_size=60),
)
@example(  # a cart waits for 07:00; one filled at 06:30 supersedes it, due only at 07:30
    carts=[8 * HOUR + 30 * MIN],
    views=[],
    orders=[],
    checkout=None,
    marketing=True,
    later_cart=18 * HOUR + 30 * MIN,
    runs=[9 * HOUR + 30 * MIN, 18 * HOUR + 36 * MIN, 19 * HOUR, 19 * HOUR + 30 * MIN],
)
def test_a_person_left_alone_until_their_wake_up_is_decided_the_same(
    carts: list[int],
    views: list[int],
    orders: list[int],
    checkout: int | None,
    marketing: bool,
    later_cart: int,
    runs: list[int],
) -> None:
    """Deciding a person at every run, or only at the first, at the runs at or after
    :func:`next_look`'s answer and at the first run after their profile changed (a cart filled
    at ``later_cart``), gives the same decisions at the same runs: nothing is missed while they
    are left alone."""
    triggers = trigger_set(
        *(config for config, _ in SCENARIOS.values()),
        trigger("replenishment", name="refill", delay_minutes=60, interval_days=2),
        caps={"per_day": 1, "per_week": 2},
        quiet_hours={"start": "21:00", "end": "07:00"},
    )
    state = ProfileState(
        carted=[[T0 + at, f"c{i}", f"sku-{i}"] for i, at in enumerate(carts)],
        viewed=[[T0 + at, f"v{i}", "sku-1"] for i, at in enumerate(views)],
    )
    for i, at in enumerate(orders):
        ordered(state, T0 + at, product=f"sku-{i}", mid=f"o{i}")
    changes = [
        CatalogChange(1, "sku-1", "price", 100.0, 50.0, T0 + DAY),
        CatalogChange(2, "sku-1", "stock", False, True, T0 + 2 * DAY),
    ]
    extras: dict[str, Any] = {
        "checkouts": [] if checkout is None else [(T0 + checkout, "k1")],
        "scores": {"churn_90d": 0.9},
        "wishlist": [(T0, "w1", "sku-1")],
    }
    changed = copy.deepcopy(state)
    changed.carted.append([T0 + later_cart, "c-later", "sku-9"])
    every = lazy = person(state, marketing=marketing, **extras)
    wake: int | None = None
    for i, now in enumerate(sorted(T0 + at for at in set(runs))):
        change = T0 + later_cart <= now and every.state is state
        if change:
            every, lazy = _settle(every, [], now, changed), _settle(lazy, [], now, changed)
        decided = due(every, triggers, now, changes)
        every = _settle(every, decided, now)
        if i > 0 and not change and (wake is None or now < wake):
            assert decided == [], f"missed at {now - T0} (wake-up {wake})"
            continue
        assert due(lazy, triggers, now, changes) == decided
        lazy = _settle(lazy, decided, now)
        wake = next_look(lazy, triggers, now, decided, changes)


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_a_person_no_trigger_can_reach_gets_no_answer_at_all(kind: str) -> None:
    """Without an address, email triggers have nothing to say, at any time, unless a wait for
    quiet hours is to be settled; a webhook trigger reaches everyone."""
    config, when = SCENARIOS[kind]
    who, changes = scenario(kind)
    unreachable = person(who.state, **_extras(who), email=False)
    triggers = trigger_set(config)
    assert not reachable(triggers, unreachable.state, False, unreachable.known)
    for now in (when - HOUR, when, when + DAY):
        assert due(unreachable, triggers, now, changes) == []
        assert next_look(unreachable, triggers, now, [], changes) is None
    waiting = {(kind, "old"): Known("quiet", when)}
    assert reachable(triggers, unreachable.state, False, waiting)
    hook = {"channel": "webhook", "destination": "https://tools.example/hook"}
    hooked = TriggerConfig.model_validate({**config.model_dump(), **hook})
    assert reachable(trigger_set(hooked), who.state, False, {})
