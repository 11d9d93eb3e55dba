"""The incremental candidate refresh: only changed profiles recomputed, the rest carried over,
gone and refusing profiles dropped, a full pass when the champion changes or the interval passes.

Each test runs on a real migrated SQLite store with a small trained shop (the serving tests'
journeys and the ``transition`` model). Profiles written "an hour ago" are made so by moving
their ``updated_at`` back, which is what the refresh reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from tests.serving.conftest import event, journeys, product_rows

from shopwise.logs import quiet
from shopwise.recommend import Precomputed
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.store import candidate_lists, profiles
from shopwise.worker import refresh_candidates, train_recommenders
from shopwise.worker._recommenders import HISTORY
from shopwise.worker._refresh import OVERLAP_MS, plan_pass, refresh_precomputed

HOUR_MS = 3_600_000


@pytest.fixture
def shop(settings: Settings) -> Iterator[Runtime]:
    """A started runtime with the journeys loaded and ``transition`` trained (and its lists
    precomputed by a first, full refresh)."""
    runtime = Runtime.build(settings, migrate=True)
    runtime.start()
    try:
        runtime.catalog.upsert(product_rows())
        _ingest(runtime, journeys())
        train_recommenders(runtime, "transition", quiet)
        yield runtime
    finally:
        runtime.stop()


def _ingest(runtime: Runtime, rows: list[dict[str, Any]]) -> None:
    """Send events through the collector and wait until profiles hold them."""
    last = 0
    for start in range(0, len(rows), 200):
        result = runtime.collector.ingest(rows[start : start + 200])
        assert not result.rejected
        last = result.last_event_id
    assert runtime.bus.wait_until_consumed(last, timeout=60)


def _age_profiles(runtime: Runtime) -> None:
    """Make every profile row look written an hour ago (long before the last refresh)."""
    with runtime.engine.begin() as conn:
        conn.execute(profiles.update().values(updated_at=profiles.c.updated_at - HOUR_MS))


def _record(runtime: Runtime) -> Precomputed:
    record = runtime.precomputed.get()
    assert record is not None
    return record


def _lists(runtime: Runtime) -> dict[str, tuple[list[str], list[float]]]:
    """Each profile's stored list (products, scores) made with the record's model version."""
    stored = runtime.candidate_lists.read_all(_record(runtime).model_version)
    return {p: (entry.items, entry.scores) for p, entry in stored.items()}


def _meta(runtime: Runtime) -> dict[str, Any]:
    version = runtime.precomputed.version
    assert version is not None
    return runtime.precomputed_registry.meta(version)


def _view(anon: str, product: str, **extra: Any) -> dict[str, Any]:
    return {**event("product_viewed", anon, datetime.now(UTC), product_id=product), **extra}


def _profile(runtime: Runtime, any_id: str) -> str:
    profile = runtime.profiles.canonical(any_id)
    assert profile is not None
    return profile


def test_the_first_refresh_is_a_full_pass(shop: Runtime) -> None:
    meta = _meta(shop)
    assert meta["pass"] == "full" and meta["reason"] == "no previous lists"
    assert meta["recomputed"] == meta["profiles"] == len(_lists(shop)) > 0
    assert meta["carried"] == meta["dropped"] == 0


def test_only_changed_profiles_are_recomputed_and_match_a_full_refresh(shop: Runtime) -> None:
    before = _lists(shop)
    _age_profiles(shop)
    s1 = _profile(shop, "s1")
    _ingest(shop, [_view("s1", "t3")])  # s1 browsed the garden; now a toy

    result = refresh_candidates(shop, quiet)

    assert result["pass"] == "incremental"
    assert (result["recomputed"], result["carried"]) == (1, len(before) - 1)
    after = _lists(shop)
    assert after[s1] != before[s1]
    assert after[s1][0][0].startswith("t")  # ranked from the new toy view
    assert {p: v for p, v in after.items() if p != s1} == {
        p: v for p, v in before.items() if p != s1
    }
    full = refresh_precomputed(shop, quiet, HISTORY, full_pass_seconds=0)
    assert full["pass"] == "full" and _meta(shop)["reason"] == "periodic full pass"
    assert _lists(shop) == after


def test_meta_records_the_pass_and_where_the_next_one_starts(shop: Runtime) -> None:
    first = _meta(shop)
    _age_profiles(shop)
    refresh_candidates(shop, quiet)
    meta = _meta(shop)
    assert meta["pass"] == "incremental" and meta["reason"] == ""
    assert meta["since"] == first["read_at"] - OVERLAP_MS
    assert meta["full_at"] == first["read_at"] and meta["read_at"] >= first["read_at"]
    assert (meta["recomputed"], meta["dropped"]) == (0, 0)
    assert meta["carried"] == meta["profiles"] == first["profiles"]


def test_a_consent_withdrawal_drops_the_list_and_a_grant_brings_it_back(shop: Runtime) -> None:
    _age_profiles(shop)
    s2 = _profile(shop, "s2")
    assert s2 in _lists(shop)
    refusal = _view("s2", "k5", context={"consent": {"purposes": {"personalization": False}}})
    _ingest(shop, [refusal])
    result = refresh_candidates(shop, quiet)
    assert result["pass"] == "incremental" and result["dropped"] == 1
    assert s2 not in _lists(shop)
    grant = _view("s2", "k6", context={"consent": {"purposes": {"personalization": True}}})
    _ingest(shop, [grant])
    assert refresh_candidates(shop, quiet)["recomputed"] == 1
    assert s2 in _lists(shop)


def test_an_erased_profile_is_dropped_and_stays_out_of_every_version(shop: Runtime) -> None:
    _age_profiles(shop)
    s4 = _profile(shop, "s4")
    shop.rights.request_erasure("s4", "test")
    [done] = shop.rights.run_pending()
    assert done["status"] == "verified", done["details"]
    assert s4 not in _lists(shop)
    refresh_candidates(shop, quiet)
    assert s4 not in _lists(shop)
    with shop.engine.connect() as conn:
        rows = conn.execute(
            sa.select(sa.func.count()).where(candidate_lists.c.profile_id == s4)
        ).scalar_one()
    assert rows == 0


def test_a_profile_gone_from_the_store_is_not_carried_over(shop: Runtime) -> None:
    """A profile row deleted without its list (a store restored from a backup of another
    time, a hand-made delete): the refresh drops the list it finds no profile for."""
    _age_profiles(shop)
    s7 = _profile(shop, "s7")
    with shop.engine.begin() as conn:
        conn.execute(profiles.delete().where(profiles.c.profile_id == s7))
    result = refresh_candidates(shop, quiet)
    assert result["pass"] == "incremental" and result["dropped"] == 1
    assert s7 not in _lists(shop)


def test_a_merged_away_profile_is_dropped_and_its_new_profile_recomputed(shop: Runtime) -> None:
    _age_profiles(shop)
    anonymous = _profile(shop, "s5")
    _ingest(shop, [_view("s5", "k4", user_id="u5")])  # s5 signs in: joins the user's profile
    merged = _profile(shop, "s5")
    assert merged != anonymous
    result = refresh_candidates(shop, quiet)
    assert result["pass"] == "incremental" and result["recomputed"] == 1
    lists = _lists(shop)
    assert anonymous not in lists and merged in lists
    with shop.engine.connect() as conn:
        gone = conn.execute(
            sa.select(profiles.c.merged_into).where(profiles.c.profile_id == anonymous)
        ).scalar_one()
    assert gone == merged


def test_a_new_champion_gets_a_full_pass(shop: Runtime) -> None:
    _age_profiles(shop)
    old = _record(shop).model_version
    train_recommenders(shop, "transition", quiet)
    meta = _meta(shop)
    assert meta["pass"] == "full" and meta["reason"] == "the champion changed"
    assert meta["model_version"] == _record(shop).model_version != old
    assert meta["recomputed"] == meta["profiles"] > 0


def test_a_full_pass_runs_once_the_interval_has_passed(shop: Runtime) -> None:
    _age_profiles(shop)
    assert refresh_precomputed(shop, quiet, HISTORY)["pass"] == "incremental"
    later = time.time() + 25 * 3600
    result = refresh_precomputed(shop, quiet, HISTORY, clock=lambda: later)
    assert result["pass"] == "full" and _meta(shop)["reason"] == "periodic full pass"
    assert _meta(shop)["full_at"] == int(later * 1000)


BASIS = {
    "model_version": "v1",
    "history": 50,
    "consent_personalization": "opt_out",
    "lists": "store",
}


@pytest.mark.parametrize(
    ("previous", "meta", "expected"),
    [
        (None, None, ("full", "no previous lists")),
        (Precomputed("v0", 0), BASIS, ("full", "the champion changed")),
        (
            Precomputed("v1", 0),
            {**BASIS, "consent_personalization": "opt_in"},
            ("full", "consent_personalization changed"),
        ),
        (Precomputed("v1", 0), {**BASIS, "history": 20}, ("full", "history changed")),
        (
            Precomputed("v1", 0),
            {"model_version": "v1", "profiles": 0},
            ("full", "consent_personalization, history, lists changed"),
        ),
        (
            Precomputed("v1", 0),
            BASIS,
            ("full", "the previous lists were made by a full refresh of an older version"),
        ),
        (
            Precomputed("v1", 0),
            {**BASIS, "read_at": 10 * HOUR_MS, "full_at": 0},
            ("full", "periodic full pass"),
        ),
        (
            Precomputed("v1", 0),
            {**BASIS, "read_at": 10 * HOUR_MS, "full_at": 2 * HOUR_MS},
            ("incremental", ""),
        ),
    ],
)
def test_plan_pass(
    previous: Precomputed | None, meta: dict[str, Any] | None, expected: tuple[str, str]
) -> None:
    plan = plan_pass(previous, meta, BASIS, now_ms=24 * HOUR_MS, full_pass_seconds=24 * 3600)
    assert (plan.kind, plan.reason) == expected
    if plan.kind == "incremental":
        assert plan.since == 10 * HOUR_MS - OVERLAP_MS and plan.full_at == 2 * HOUR_MS


def test_the_saved_record_holds_no_shopper_and_serving_reads_the_store(shop: Runtime) -> None:
    """What every process loads is a few fields, whatever the number of shoppers: no profile id
    is in the saved record, and each list is read from the store when its shopper is served."""
    version = shop.precomputed.version
    assert version is not None
    saved = shop.precomputed_registry.artifact_bytes(version)
    listed = _lists(shop)
    assert listed and not any(p.encode() in saved for p in listed)
    s1 = _profile(shop, "s1")
    stored = shop.candidate_lists.get(_record(shop).model_version, s1)
    assert stored is not None and (stored.items, stored.scores) == listed[s1]


def test_a_record_of_an_earlier_version_holding_the_lists_is_followed_by_a_full_pass(
    shop: Runtime,
) -> None:
    model_version = _record(shop).model_version
    earlier = Precomputed(model_version, 0, "transition")
    earlier.lists = {"p": (["t1"], [1.0], [["precomputed:transition"]])}  # type: ignore[attr-defined]
    shop.precomputed_registry.save(earlier, {"model_version": model_version}, promote=True)
    shop.precomputed.refresh()
    assert (
        shop.precomputed.last_error is not None and "earlier version" in shop.precomputed.last_error
    )
    _age_profiles(shop)
    result = refresh_candidates(shop, quiet)
    assert result["pass"] == "full" and result["recomputed"] == result["profiles"] > 0
