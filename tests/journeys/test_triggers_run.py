"""The triggers over a real store: fired once per anchor across restarts, the decision and the
outbox message in one transaction, the worker job, the admin API and the preview command."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shopwise.catalog import ProductPatch
from shopwise.cli._main import app as cli_app
from shopwise.decide import VersionedStore
from shopwise.journeys import (
    Composer,
    Message,
    Outbox,
    Recommended,
    Templates,
    TriggerRun,
    TriggerRunner,
    TriggerSet,
    render_stored,
    stored_message,
    trigger_store,
)
from shopwise.logs import quiet
from shopwise.profiles import ProfileState
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.store import (
    customer_scores,
    events,
    identities,
    outbox_messages,
    profiles,
    trigger_decisions,
    trigger_wakeups,
)
from shopwise.worker import worker_jobs

MIN = 60_000
HOUR = 60 * MIN
T0 = int(datetime(2026, 1, 5, 12, tzinfo=UTC).timestamp() * 1000)

CART_ONLY = """
caps: {per_day: 2, per_week: 5}
quiet_hours: null
triggers:
  - name: cart_abandonment
    kind: cart_abandonment
    delay_minutes: 60
    holdout: 0
    subject: "{{ first_name }}, your cart"
    recommendations: 2
  - name: cart_hook
    kind: cart_abandonment
    enabled: false
    channel: webhook
    destination: https://tools.example/hook
"""


class Fixed:
    def recommend(self, profile_id: str, cart: Sequence[str], n: int) -> Recommended | None:
        return Recommended("0190aaaabbbb" + "c" * 20, ("sku-2",))

    def complementary(self, product_id: str, n: int) -> Recommended | None:
        return None


def add_shopper(
    runtime: Runtime,
    profile_id: str = "p-1",
    marketing: bool = True,
    at: int = T0,
    email: str | None = None,
) -> None:
    runtime.catalog.upsert(
        [
            {"id": "sku-1", "title": "Tea <pot>", "price": 30},
            {"id": "sku-2", "title": "Cup", "price": 8},
        ]
    )
    seal = runtime.cipher.seal
    state = ProfileState(
        first_seen=at,
        last_seen=at,
        carted=[[at, f"m-{profile_id}", "sku-1"]],
        traits={
            "email": [
                seal("email", email or f"{profile_id}@example.com"),
                at,
                "i1",
                "identify",
                True,
            ],
            "first_name": [seal("first_name", "Ann"), at, "i1", "identify", True],
        },
        consent={"marketing": [marketing, at, "c1"]},
    )
    with runtime.engine.begin() as conn:
        conn.execute(
            profiles.insert().values(profile_id=profile_id, state=state.to_json(), updated_at=at)
        )
        conn.execute(
            identities.insert().values(
                id_key=f"u:user-{profile_id}", profile_id=profile_id, created_at=at
            )
        )


def runner(
    runtime: Runtime, enqueue: Any = None, store: VersionedStore[TriggerSet] | None = None
) -> TriggerRunner:
    outbox = Outbox(runtime.engine, runtime.consent, runtime.cipher, {})
    composer = Composer(
        runtime.catalog.snapshot, Fixed(), lambda: runtime.content.live().value, "https://s.ex"
    )
    return TriggerRunner(
        runtime.engine,
        store or trigger_store(runtime.engine),
        runtime.consent,
        runtime.cipher,
        runtime.catalog.snapshot,
        composer,
        Templates(),
        enqueue or outbox.enqueue,
    )


def rows(runtime: Runtime, table: sa.Table) -> list[dict[str, Any]]:
    with runtime.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table)).mappings()]


def test_fires_once_per_anchor_across_restarts(runtime: Runtime) -> None:
    trigger_store(runtime.engine).put(CART_ONLY, None)
    add_shopper(runtime)

    assert runner(runtime).run(T0 + HOUR - 1).outcomes == {}
    assert runner(runtime).run(T0 + HOUR).outcomes == {"fired": 1}
    assert runner(runtime).run(T0 + HOUR + MIN).outcomes == {}  # a restarted worker: nothing again

    (message,) = rows(runtime, outbox_messages)
    (decision,) = rows(runtime, trigger_decisions)
    assert decision["outcome"] == "fired" and decision["message_id"] == message["id"]
    assert decision["anchor"] == "cart:m-p-1" and decision["trigger_version"] == 1
    assert message["kind"] == "cart_abandonment" and message["profile_id"] == "p-1"
    assert "p-1@example.com" not in str(message)
    # the decision's personalization is sealed: the name must not show outside its ciphertext
    assert re.search(r"(?<![\w+/=-])Ann(?![\w+/=-])", str(decision)) is None
    assert runtime.cipher.open(message["destination"]) == "p-1@example.com"
    payload = runtime.cipher.open_json(message["payload"])
    assert payload["subject"] == "Ann, your cart"
    assert "Tea &lt;pot&gt;" in payload["html"]

    row = stored_message(runtime.engine, message["id"])
    assert row is not None
    shown = render_stored(row, trigger_store(runtime.engine), Templates(), runtime.cipher)
    assert shown is not None and shown["subject"] == "Ann, your cart"
    assert shown["recommendation_id"] == "0190aaaabbbb" + "c" * 20
    link = next(w for w in shown["text"].split() if "/products/sku-2" in w)
    assert parse_qs(urlsplit(link).query)["recommendation_id"] == [shown["recommendation_id"]]


def test_the_decision_and_the_message_commit_together(runtime: Runtime) -> None:
    trigger_store(runtime.engine).put(CART_ONLY, None)
    add_shopper(runtime)

    def broken(conn: sa.Connection, message: Message) -> Any:
        conn.execute(sa.text("SELECT 1"))
        raise RuntimeError("outbox down")

    with pytest.raises(RuntimeError):
        runner(runtime, broken).run(T0 + HOUR)
    assert rows(runtime, trigger_decisions) == [] and rows(runtime, outbox_messages) == []
    assert runner(runtime).run(T0 + HOUR + MIN).outcomes == {"fired": 1}
    assert len(rows(runtime, outbox_messages)) == 1


def test_an_address_the_outbox_refuses_costs_no_one_else_their_message(runtime: Runtime) -> None:
    trigger_store(runtime.engine).put(CART_ONLY, None)
    add_shopper(runtime, "p-0", email="no address at all")  # decided first (profile id order)
    add_shopper(runtime, "p-1")
    assert runner(runtime).run(T0 + HOUR).outcomes == {"undeliverable": 1, "fired": 1}
    decided = {r["profile_id"]: r for r in rows(runtime, trigger_decisions)}
    assert decided["p-0"]["outcome"] == "undeliverable" and decided["p-0"]["message_id"] is None
    assert decided["p-0"]["reason"] == "refused by the outbox: destination"  # no address in it
    (message,) = rows(runtime, outbox_messages)
    assert message["profile_id"] == "p-1"
    assert runner(runtime).run(T0 + HOUR + MIN).outcomes == {}  # final: not retried every run


@pytest.fixture
def backend_runtime(backend_settings: Settings) -> Iterator[Runtime]:
    """A runtime (threads not started) on SQLite and, with ``services``, PostgreSQL."""
    built = Runtime.build(backend_settings, migrate=True)
    yield built
    built.engine.dispose()


def test_no_consent_and_quiet_are_recorded_without_a_message(backend_runtime: Runtime) -> None:
    runtime = backend_runtime
    trigger_store(runtime.engine).put(
        CART_ONLY.replace("quiet_hours: null", 'quiet_hours: {start: "12:30", end: "14:30"}'),
        None,
    )
    add_shopper(runtime, "p-1", marketing=False)
    add_shopper(runtime, "p-2")

    assert runner(runtime).run(T0 + HOUR).outcomes == {"no_consent": 1, "quiet": 1}
    assert rows(runtime, outbox_messages) == []
    assert runner(runtime).run(T0 + HOUR + MIN).outcomes == {}  # waiting until 14:30
    assert runner(runtime).run(T0 + 150 * MIN - 1).outcomes == {}
    assert runner(runtime).run(T0 + 150 * MIN).outcomes == {"fired": 1}
    outcomes = {(r["profile_id"], r["outcome"]) for r in rows(runtime, trigger_decisions)}
    assert outcomes == {("p-1", "no_consent"), ("p-2", "fired")}


def wakeups(runtime: Runtime) -> dict[str, int]:
    return {r["profile_id"]: r["wake_at"] for r in rows(runtime, trigger_wakeups)}


def test_later_runs_decide_only_the_people_who_changed_or_wake_up(
    backend_runtime: Runtime,
) -> None:
    runtime = backend_runtime
    store = trigger_store(runtime.engine)
    quiet = 'quiet_hours: {start: "12:30", end: "14:30"}'
    store.put(CART_ONLY.replace("quiet_hours: null", quiet), None)
    add_shopper(runtime, "p-1")  # due at 13:00, in the quiet hours
    add_shopper(runtime, "p-2", at=T0 + 3 * HOUR)  # due at 16:00
    add_shopper(runtime, "p-3", at=T0 - 24 * HOUR)  # its cart expires as the first run begins
    one = runner(runtime, store=store)  # the same worker run after run

    assert one.run(T0 + HOUR) == TriggerRun({"quiet": 1}, 3, True)  # the first run: everyone
    assert wakeups(runtime) == {"p-1": T0 + 150 * MIN, "p-2": T0 + 4 * HOUR}
    assert one.run(T0 + HOUR + MIN) == TriggerRun({}, 0, False)  # none changed, none due
    assert one.run(T0 + 150 * MIN) == TriggerRun({"fired": 1}, 1, False)  # p-1's wait ends
    assert wakeups(runtime) == {"p-2": T0 + 4 * HOUR}

    (p3,) = [r for r in rows(runtime, profiles) if r["profile_id"] == "p-3"]
    state = ProfileState.from_json(p3["state"])
    state.carted = [[T0 + 150 * MIN, "m-new", "sku-1"]]  # p-3 fills a cart again
    with runtime.engine.begin() as conn:  # written at the wall clock, as the consumer writes
        conn.execute(
            profiles.update()
            .where(profiles.c.profile_id == "p-3")
            .values(state=state.to_json(), updated_at=int(time.time() * 1000))
        )
    assert one.run(T0 + 151 * MIN) == TriggerRun({}, 1, False)
    assert wakeups(runtime) == {"p-2": T0 + 4 * HOUR, "p-3": T0 + 210 * MIN}
    assert one.run(T0 + 4 * HOUR).outcomes == {"fired": 2}
    assert wakeups(runtime) == {}

    store.put(CART_ONLY, None)  # another trigger set: what the wake-ups assumed may not hold
    assert one.run(T0 + 4 * HOUR + MIN) == TriggerRun({}, 3, True)


WIN_BACK_ONLY = """
caps: {per_day: 2, per_week: 5}
quiet_hours: null
triggers:
  - name: win_back
    kind: win_back
    delay_minutes: 43200
    expires_minutes: 43200
    score: churn_90d
    min_score: 0.7
    subject: "We miss you"
    recommendations: 2
"""


def score(runtime: Runtime, values: dict[str, float], scored_at: int) -> None:
    """One scoring write: every row in one transaction, with one ``scored_at``."""
    with runtime.engine.begin() as conn:
        conn.execute(customer_scores.delete().where(customer_scores.c.profile_id.in_(values)))
        conn.execute(
            customer_scores.insert(),
            [
                {
                    "profile_id": profile,
                    "name": "churn_90d",
                    "value": value,
                    "model_version": "v1",
                    "as_of": scored_at,
                    "scored_at": scored_at,
                }
                for profile, value in values.items()
            ],
        )


def test_a_scoring_write_is_decided_once_not_at_every_run_of_its_settle_time(
    backend_runtime: Runtime,
) -> None:
    """A score refresh rewrites every profile's score; the runs within the settle time after it
    read those profiles once, and again only for another write or a changed count."""
    runtime = backend_runtime
    store = trigger_store(runtime.engine)
    store.put(WIN_BACK_ONLY, None)
    for profile in ("p-1", "p-2", "p-3"):
        add_shopper(runtime, profile)  # long before the horizon: only their scores bring them
    now = int(time.time() * 1000)
    score(runtime, {"p-1": 0.9, "p-2": 0.8, "p-3": 0.1}, now)
    one = runner(runtime, store=store)

    assert one.run(now).people == 2  # the first run: every score at the threshold
    score(runtime, {"p-1": 0.95, "p-2": 0.9, "p-3": 0.2}, now + 1)  # the hourly refresh
    assert one.run(now + MIN).people == 2
    assert one.run(now + 2 * MIN).people == 0  # the same write, still within the settle time
    score(runtime, {"p-3": 0.75}, now + 1)  # a write with the same stamp changes the count
    assert one.run(now + 3 * MIN).people == 3
    assert one.run(now + 4 * MIN).people == 0


def test_the_worker_schedules_the_journeys_job(runtime: Runtime) -> None:
    """The job at the real clock, with serving choosing the recommendations (no model yet)."""
    trigger_store(runtime.engine).put(CART_ONLY, None)
    add_shopper(runtime, at=int(time.time() * 1000) - HOUR - MIN)
    jobs = {job.name: job for job in worker_jobs(runtime, "popular", 60, 3600)}
    assert jobs["journeys"].every_seconds == 60
    assert jobs["journeys"].run(quiet) == {"fired": 1, "people": 1, "full": True}
    assert jobs["journeys"].run(quiet) == {"people": 0, "full": False}
    (message,) = rows(runtime, outbox_messages)
    payload = runtime.cipher.open_json(message["payload"])
    assert "Tea &lt;pot&gt;" in payload["html"] and "recommendation_id=" in payload["text"]


def test_trigger_admin_api(client: TestClient, admin_auth: dict[str, str]) -> None:
    shipped = client.get("/v1/triggers", headers=admin_auth).json()
    assert shipped["version"] == 0
    kinds = {t["kind"] for t in shipped["parsed"]["triggers"]}
    assert kinds == {
        "cart_abandonment",
        "browse_abandonment",
        "checkout_abandonment",
        "win_back",
        "replenishment",
        "cross_sell",
        "price_drop",
        "back_in_stock",
    }

    bad = CART_ONLY.replace("    destination: https://tools.example/hook\n", "")
    refused = client.put("/v1/triggers", content=bad, headers=admin_auth)
    assert refused.status_code == 400
    assert refused.json()["error"]["details"][0]["field"] == "triggers.1"
    assert "destination" in refused.json()["error"]["message"]
    broken = client.put("/v1/triggers", content="triggers: [", headers=admin_auth)
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_yaml"

    stored = client.put("/v1/triggers", content=CART_ONLY, headers=admin_auth)
    assert stored.status_code == 200 and stored.json()["version"] >= 1
    live = client.get("/v1/triggers", headers=admin_auth).json()
    assert live["version"] == stored.json()["version"] and live["history"]
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    assert [e.action for e in runtime.audit.entries(action="triggers.changed")] == [
        "triggers.changed"
    ]
    assert client.get("/v1/triggers").status_code == 401


def test_preview_route_and_command(
    client: TestClient,
    admin_auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    trigger_store(runtime.engine).put(CART_ONLY, None)
    add_shopper(runtime)
    assert runner(runtime).run(T0 + HOUR).outcomes == {"fired": 1}
    (message,) = rows(runtime, outbox_messages)

    shown = client.get(f"/v1/messages/{message['id']}/preview", headers=admin_auth)
    assert shown.status_code == 200
    assert shown.json()["subject"] == "Ann, your cart"
    assert "Tea &lt;pot&gt;" in shown.json()["html"]
    missing = client.get("/v1/messages/nope/preview", headers=admin_auth)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "unknown_message"
    assert missing.json()["error"]["details"][0]["field"] == "message_id"
    previewed = runtime.audit.entries(action="message.previewed")
    assert [(e.subject, e.details) for e in previewed] == [("p-1", {"id": message["id"]})]

    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    cli = CliRunner()
    result = cli.invoke(cli_app, ["messages", "preview", message["id"]])
    assert result.exit_code == 0, result.output
    assert "Subject: Ann, your cart" in result.output and "Tea <pot>" in result.output
    html = cli.invoke(cli_app, ["messages", "preview", message["id"], "--html"])
    assert "Tea &lt;pot&gt;" in html.output
    unknown = cli.invoke(cli_app, ["messages", "preview", "nope"])
    assert unknown.exit_code == 2


CATALOG_ONLY = """
quiet_hours: null
triggers:
  - {name: price_drop, kind: price_drop, delay_minutes: 0, holdout: 0, min_drop: 0.2}
  - {name: back_in_stock, kind: back_in_stock, delay_minutes: 0, holdout: 0, priority: 5}
"""


def test_price_drops_and_restocks_from_the_catalogs_changes(runtime: Runtime) -> None:
    trigger_store(runtime.engine).put(CATALOG_ONLY, None)
    now = int(time.time() * 1000)
    add_shopper(runtime, "p-1", at=now - HOUR)
    with runtime.engine.begin() as conn:  # p-1 viewed the teapot; p-2 wish-listed the cup
        state = ProfileState.from_json(
            conn.execute(
                sa.select(profiles.c.state).where(profiles.c.profile_id == "p-1")
            ).scalar_one()
        )
        state.viewed = [[now - HOUR, "v1", "sku-1"]]
        conn.execute(
            profiles.update().where(profiles.c.profile_id == "p-1").values(state=state.to_json())
        )
    runtime.catalog.patch("sku-1", ProductPatch(sale_price=27))  # 10 % off: not enough
    assert runner(runtime).run(now + MIN).outcomes == {}
    runtime.catalog.patch("sku-1", ProductPatch(sale_price=21))  # 22 % below the last price
    runtime.catalog.patch("sku-2", ProductPatch(available=False))
    runtime.catalog.patch("sku-2", ProductPatch(available=True))  # nobody wanted it
    assert runner(runtime).run(now + 2 * MIN).outcomes == {"fired": 1}
    (decision,) = rows(runtime, trigger_decisions)
    assert decision["trigger"] == "price_drop" and decision["anchor"].startswith("change:")
    payload = runtime.cipher.open_json(rows(runtime, outbox_messages)[0]["payload"])
    assert "21.00 EUR" in payload["text"]


def test_a_new_catalog_change_wakes_the_shoppers_who_viewed_the_product(
    backend_runtime: Runtime,
) -> None:
    runtime = backend_runtime  # no consumer: the view stored below is not folded meanwhile
    trigger_store(runtime.engine).put(CATALOG_ONLY, None)
    now = int(time.time() * 1000)
    add_shopper(runtime, "p-1", at=now - HOUR)
    add_shopper(runtime, "p-2", at=now - HOUR)
    viewed = [now - HOUR, "v1", "sku-1"]
    with runtime.engine.begin() as conn:  # p-1 viewed the teapot (its event and its profile)
        conn.execute(
            events.insert().values(
                message_id="v1",
                type="product_viewed",
                user_id="user-p-1",
                timestamp=viewed[0],
                received_at=viewed[0],
                product_id="sku-1",
                context={},
                properties={"product_id": "sku-1"},
            )
        )
        (p1,) = [r for r in rows(runtime, profiles) if r["profile_id"] == "p-1"]
        state = ProfileState.from_json(p1["state"])
        state.viewed = [viewed]
        conn.execute(
            profiles.update().where(profiles.c.profile_id == "p-1").values(state=state.to_json())
        )
    one = runner(runtime)
    assert one.run(now) == TriggerRun({}, 2, True)
    assert one.run(now + MIN) == TriggerRun({}, 0, False)
    runtime.catalog.patch("sku-2", ProductPatch(sale_price=4))  # nobody looked at the cup
    assert one.run(now + 2 * MIN) == TriggerRun({}, 0, False)
    runtime.catalog.patch("sku-1", ProductPatch(sale_price=21))
    assert one.run(now + 3 * MIN) == TriggerRun({"fired": 1}, 1, False)
    assert one.run(now + 4 * MIN) == TriggerRun({}, 0, False)  # that change was looked at
