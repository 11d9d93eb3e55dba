"""The outbox: transactional enqueue, leases, retries with backoff, dead state, consent."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from tests.journeys.conftest import Receiver, make_outbox

from shopwise import journeys, store
from shopwise.errors import InvalidInput
from shopwise.journeys import Message, backoff_seconds
from shopwise.privacy import PiiCipher
from shopwise.store import outbox_messages, write_transaction


def _hook(receiver: Receiver, key: str, **extra: object) -> Message:
    return Message(
        "webhook", receiver.url, {"cart": ["sku-1"]}, key, kind="cart_abandonment", **extra
    )  # type: ignore[arg-type]


def test_public_names() -> None:
    assert set(journeys.__all__) == {n for n in dir(journeys) if not n.startswith("_")} - {
        "annotations"
    }


def test_enqueueing_a_key_twice_stores_one_row(engine: sa.Engine, cipher: PiiCipher) -> None:
    outbox = make_outbox(engine, cipher)
    message = Message("webhook", "http://127.0.0.1:9/h", {"a": 1}, "k-1")
    with write_transaction(engine) as conn:
        first = outbox.enqueue(conn, message)
    with write_transaction(engine) as conn:
        second = outbox.enqueue(conn, message)
    assert first.created and not second.created
    assert first.message_id == second.message_id
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox_messages)).scalar() == 1


def test_enqueue_rolls_back_with_the_callers_transaction(
    engine: sa.Engine, cipher: PiiCipher
) -> None:
    outbox = make_outbox(engine, cipher)
    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        outbox.enqueue(conn, Message("webhook", "http://127.0.0.1:9/h", {}, "k-rolled-back"))
        raise RuntimeError("the trigger's decision failed")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox_messages)).scalar() == 0


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (Message("webhook", "ftp://x/y", {}, "k"), "destination"),
        (Message("email", "not-an-address", {"subject": "s", "text": "t"}, "k"), "destination"),
        (Message("email", "a@shop.example", {"subject": "s"}, "k"), "payload.text"),
        (Message("webhook", "http://x.example/", {}, "k\r\nX-Evil: 1"), "idempotency_key"),
        (Message("sms", "+100", {}, "k"), "channel"),  # type: ignore[arg-type]
        (Message("webhook", "http://x.example/", {}, "k", purpose="spam"), "purpose"),
    ],
)
def test_invalid_messages_are_refused_naming_the_field(
    engine: sa.Engine, cipher: PiiCipher, message: Message, field: str
) -> None:
    outbox = make_outbox(engine, cipher)
    with pytest.raises(InvalidInput) as caught, write_transaction(engine) as conn:
        outbox.enqueue(conn, message)
    assert caught.value.details[0]["field"] == field


def test_email_destination_is_sealed_at_rest(engine: sa.Engine, cipher: PiiCipher) -> None:
    outbox = make_outbox(engine, cipher)
    email = Message("email", "ada@shop.example", {"subject": "s", "text": "t"}, "k-sealed")
    with write_transaction(engine) as conn:
        enqueued = outbox.enqueue(conn, email)
    row = outbox.message(enqueued.message_id)
    assert row is not None
    assert "ada@shop.example" not in row["destination"]
    assert cipher.open(row["destination"]) == "ada@shop.example"


def test_webhook_is_delivered_signed_with_the_idempotency_key(
    engine: sa.Engine, cipher: PiiCipher, receiver: Receiver
) -> None:
    outbox = make_outbox(engine, cipher)
    with write_transaction(engine) as conn:
        enqueued = outbox.enqueue(conn, _hook(receiver, "cart-42"))
    summary = outbox.dispatch_due()
    assert summary.delivered == 1
    [request] = receiver.requests
    assert request.key == "cart-42" and request.signed
    assert b'"type":"cart_abandonment"' in request.body and b'"sku-1"' in request.body
    row = outbox.message(enqueued.message_id)
    assert row is not None and row["status"] == "delivered" and row["delivered_at"] is not None
    [attempt] = outbox.attempts(enqueued.message_id)
    assert attempt["status_code"] == 200 and attempt["outcome"] == "delivered"
    assert outbox.dispatch_due().claimed == 0


def test_retries_500s_and_timeouts_with_growing_backoff_then_delivers(
    engine: sa.Engine, cipher: PiiCipher, receiver: Receiver
) -> None:
    outbox = make_outbox(engine, cipher, timeout=0.5, max_attempts=6)
    receiver.script = [500, 503, ("sleep", 1.5), 502]
    with write_transaction(engine) as conn:
        message_id = outbox.enqueue(conn, _hook(receiver, "retry-me")).message_id
    now = time.time()
    waits = []
    for _ in range(4):
        assert outbox.dispatch_due(now=now).retrying == 1
        row = outbox.message(message_id)
        assert row is not None and row["status"] == "failed"
        waits.append(row["next_attempt_at"] / 1000 - now)
        assert outbox.dispatch_due(now=now).claimed == 0  # not due before its backoff
        now = row["next_attempt_at"] / 1000
    assert outbox.dispatch_due(now=now).delivered == 1
    attempts = outbox.attempts(message_id)
    assert [a["status_code"] for a in attempts] == [500, 503, None, 502, 200]
    assert attempts[2]["error"].startswith("timeout")
    # full jitter below a ceiling of 10 s doubling each attempt
    assert all(0 <= w <= 10 * 2**i for i, w in enumerate(waits))
    assert receiver.delivered() == {"retry-me"}


def test_dead_after_max_attempts(engine: sa.Engine, cipher: PiiCipher, receiver: Receiver) -> None:
    outbox = make_outbox(engine, cipher, max_attempts=3)
    receiver.script = [500] * 10
    with write_transaction(engine) as conn:
        message_id = outbox.enqueue(conn, _hook(receiver, "doomed")).message_id
    now = time.time()
    for _ in range(5):
        outbox.dispatch_due(now=now)
        now += 2000
    row = outbox.message(message_id)
    assert row is not None and row["status"] == "dead" and row["attempts"] == 3
    assert len(receiver.requests) == 3
    assert row["last_error"] == "HTTP 500"


@pytest.mark.parametrize(("status", "expected"), [(404, "dead"), (429, "failed"), (408, "failed")])
def test_4xx_is_dead_at_once_except_408_and_429(
    engine: sa.Engine, cipher: PiiCipher, receiver: Receiver, status: int, expected: str
) -> None:
    outbox = make_outbox(engine, cipher)
    receiver.script = [status]
    with write_transaction(engine) as conn:
        message_id = outbox.enqueue(conn, _hook(receiver, f"s-{status}")).message_id
    outbox.dispatch_due()
    row = outbox.message(message_id)
    assert row is not None and row["status"] == expected


def test_unreachable_receiver_is_retried(engine: sa.Engine, cipher: PiiCipher) -> None:
    outbox = make_outbox(engine, cipher)
    with write_transaction(engine) as conn:
        message_id = outbox.enqueue(
            conn, Message("webhook", "http://127.0.0.1:9/nobody", {}, "k-closed")
        ).message_id
    assert outbox.dispatch_due().retrying == 1
    [attempt] = outbox.attempts(message_id)
    assert attempt["outcome"] == "failed" and "ConnectError" in attempt["error"]


def test_send_after_delays_the_first_attempt(
    engine: sa.Engine, cipher: PiiCipher, receiver: Receiver
) -> None:
    outbox = make_outbox(engine, cipher)
    now = time.time()
    later = int((now + 600) * 1000)
    with write_transaction(engine) as conn:
        outbox.enqueue(conn, _hook(receiver, "later", send_after=later), now=now)
    assert outbox.dispatch_due(now=now + 599).claimed == 0
    assert outbox.dispatch_due(now=now + 600).delivered == 1


def test_expired_lease_is_retried_by_another_dispatcher(
    engine: sa.Engine, cipher: PiiCipher, receiver: Receiver
) -> None:
    """A dispatcher that claimed a message and died: after its lease, another one sends it."""
    dead = make_outbox(engine, cipher, owner="dead-worker", lease_seconds=30)
    live = make_outbox(engine, cipher, owner="live-worker", lease_seconds=30)
    with write_transaction(engine) as conn:
        message_id = dead.enqueue(conn, _hook(receiver, "orphan")).message_id
    now = time.time()
    assert dead._claim(int(now * 1000)) is not None  # claimed, then the process "dies"
    assert live.dispatch_due(now=now + 29).claimed == 0  # the lease still holds
    assert live.dispatch_due(now=now + 31).delivered == 1
    row = live.message(message_id)
    assert row is not None and row["status"] == "delivered" and row["attempts"] == 2


def test_two_dispatchers_never_deliver_one_message_twice(
    engine: sa.Engine, cipher: PiiCipher, receiver: Receiver
) -> None:
    first = make_outbox(engine, cipher, owner="worker-1", seed=1)
    second = make_outbox(engine, cipher, owner="worker-2", seed=2)
    with write_transaction(engine) as conn:
        for i in range(40):
            first.enqueue(conn, _hook(receiver, f"m-{i}"))
    barrier = threading.Barrier(2)
    claimed: dict[str, int] = {}

    def run(outbox: journeys.Outbox) -> None:
        barrier.wait()
        claimed[outbox.owner] = outbox.dispatch_due().claimed

    threads = [threading.Thread(target=run, args=(o,)) for o in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(claimed.values()) == 40
    assert receiver.keys == {f"m-{i}": 1 for i in range(40)}
    assert all(count > 0 for count in claimed.values())  # both took part


def _profile(engine: sa.Engine, profile_id: str, marketing: bool | None) -> None:
    consent = {} if marketing is None else {"marketing": [marketing, 1, "m-consent"]}
    with write_transaction(engine) as conn:
        conn.execute(
            store.profiles.insert().values(
                profile_id=profile_id, state={"consent": consent}, merged_into=None, updated_at=1
            )
        )


def test_consent_is_checked_at_send_time(
    engine: sa.Engine, cipher: PiiCipher, receiver: Receiver
) -> None:
    outbox = make_outbox(engine, cipher)
    _profile(engine, "p-yes", True)
    _profile(engine, "p-silent", None)
    _profile(engine, "p-revoked", True)
    with write_transaction(engine) as conn:
        ids = {
            p: outbox.enqueue(conn, _hook(receiver, f"k-{p}", profile_id=p)).message_id
            for p in ("p-yes", "p-silent", "p-revoked", "p-unknown")
        }
    with write_transaction(engine) as conn:  # revoked after the message was enqueued
        conn.execute(
            store.profiles.update()
            .where(store.profiles.c.profile_id == "p-revoked")
            .values(state={"consent": {"marketing": [False, 2, "m-2"]}})
        )
    summary = outbox.dispatch_due()
    assert (summary.delivered, summary.suppressed) == (1, 3)
    assert receiver.keys == {"k-p-yes": 1}
    row = outbox.message(ids["p-revoked"])
    assert row is not None and row["status"] == "suppressed"
    assert row["last_error"] == "no marketing consent at send time"


def test_merged_profile_consent_is_the_canonical_ones(
    engine: sa.Engine, cipher: PiiCipher, receiver: Receiver
) -> None:
    outbox = make_outbox(engine, cipher)
    _profile(engine, "p-root", True)
    with write_transaction(engine) as conn:
        conn.execute(
            store.profiles.insert().values(
                profile_id="p-old", state={}, merged_into="p-root", updated_at=1
            )
        )
        outbox.enqueue(conn, _hook(receiver, "k-merged", profile_id="p-old"))
    assert outbox.dispatch_due().delivered == 1


@given(
    attempt=st.integers(min_value=1, max_value=200),
    base=st.floats(min_value=0.01, max_value=100),
    cap=st.floats(min_value=0.01, max_value=10_000),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_backoff_is_drawn_below_a_doubling_capped_ceiling(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    wait = backoff_seconds(attempt, base, cap, np.random.default_rng(seed))
    assert 0 <= wait <= min(cap, base * 2.0 ** (attempt - 1))


def test_backoff_grows_with_the_attempt() -> None:
    rng = np.random.default_rng(3)
    means = [
        np.mean([backoff_seconds(a, 1.0, 10_000.0, rng) for _ in range(2000)]) for a in (1, 2, 3, 4)
    ]
    assert means == sorted(means)
    assert means[3] / means[0] == pytest.approx(8, rel=0.15)
