"""The KPI job on both store backends: stored totals, incrementality, consent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from tests.kpis.helpers import HOUR, T0, Log, add_products

from shopwise import store
from shopwise.kpis import CONSUMER, KpiRefresh, read_kpis
from shopwise.kpis._attribution import Exposure
from shopwise.kpis._refresh import SLICE, SLICE_MS, _Reader
from shopwise.privacy import ConsentPolicy
from shopwise.profiles import anon_key, profile_id_for, user_key

DAY = 24 * HOUR


def _job(engine: sa.Engine) -> KpiRefresh:
    return KpiRefresh(engine, ConsentPolicy(), window_hours=24)


def _table(engine: sa.Engine) -> list[tuple[Any, ...]]:
    """The hour and day rows (slice rows are the job's own, deleted when old)."""
    columns = [c for c in store.kpi_buckets.c if c.name != "computed_at"]
    public = store.kpi_buckets.c.grain != SLICE
    with engine.connect() as conn:
        return sorted(tuple(row) for row in conn.execute(sa.select(*columns).where(public)))


def _from_scratch(engine: sa.Engine) -> list[tuple[Any, ...]]:
    """The rows one run over every stored event makes."""
    with engine.begin() as conn:
        conn.execute(store.kpi_buckets.delete())
        conn.execute(store.bus_offsets.delete().where(store.bus_offsets.c.consumer == CONSUMER))
    _job(engine).run()
    return _table(engine)


def test_the_job_stores_hour_and_day_totals(engine: sa.Engine, log: Log) -> None:
    add_products(engine, ["a", "b", "c", "d"])
    home = log.answer("s1", T0 + 10, ["a", "b"])
    log.click("s1", T0 + 20, home, "a")
    log.click("s1", T0 + 21, home, "a", type_="product_viewed")  # the same click
    log.add("s1", T0 + 30, home, "a")
    log.order("s1", T0 + 2 * HOUR, "o1", {"a": 15.0, "d": 50.0})
    log.answer("s2", T0 + HOUR + 5, ["c"], model=None)  # no model: the fallback answered
    log.event("product_viewed", "s2", T0 + HOUR + 6, {"product_id": "c"})  # not from an answer
    log.flush(engine)
    done = _job(engine).run()
    assert done["hours"] == 2 and done["days"] == 1
    hours = read_kpis(engine, T0, T0 + DAY, "hour")
    assert [(r["bucket_start"], r["model_version"]) for r in hours] == [
        ("2026-03-02T10:00:00Z", "m1"),
        ("2026-03-02T11:00:00Z", "none"),
    ]
    first, second = hours
    assert (first["impressions"], first["items_shown"], first["clicks"], first["adds"]) == (
        1,
        2,
        1,
        1,
    )
    assert (first["orders"], first["revenue"], first["rule_version"]) == (1, 30.0, "0")
    assert first["ctr"] == 1.0 and first["average_order_value"] == 30.0
    assert first["catalog_coverage"] == 0.5 and first["fallback_share"] == 0.0
    assert (second["clicks"], second["fallback_share"], second["ctr"]) == (0, 1.0, 0.0)
    assert second["average_order_value"] is None
    [day] = read_kpis(engine, T0 - DAY, T0 + DAY, "day", model_version="m1")
    assert day["bucket_start"] == "2026-03-02T00:00:00Z" and day["revenue"] == 30.0
    assert read_kpis(engine, T0, T0 + DAY, "hour", placement="cart") == []


def _three_batches(log: Log) -> list[list[dict[str, Any]]]:
    """Events whose later batches touch hour buckets of earlier ones only through an order, a
    click or an add that names an earlier answer."""
    a = log.answer("s1", T0 + 10, ["a", "b"])
    b = log.answer("s2", T0 + HOUR + 10, ["b", "c"], placement="cart", variant="v2")
    log.click("s1", T0 + 20, a, "a")
    log.click("s1", T0 + 5 * HOUR, a, "b")  # after the order below: wins nothing
    first, log.rows = log.rows, []
    log.order("s1", T0 + 3 * HOUR, "o1", {"a": 10.0, "b": 7.0})  # bucket T0 again
    log.click("s2", T0 + 2 * HOUR, b, "c")
    log.answer("s3", T0 + DAY + 5, ["d"])  # a new day
    second, log.rows = log.rows, []
    log.add("s2", T0 + 2 * HOUR + 1, b, "c")
    log.order("s2", T0 + 4 * HOUR, "o2", {"c": 3.0})
    third, log.rows = log.rows, []
    return [first, second, third]


def test_runs_after_new_events_equal_one_run_over_them_all(engine: sa.Engine, log: Log) -> None:
    for batch in _three_batches(log):
        log.rows = batch
        log.flush(engine)
        _job(engine).run()
    incremental = _table(engine)
    assert _job(engine).run()["events"] == 0  # nothing new: nothing done
    assert _table(engine) == incremental
    assert incremental == _from_scratch(engine)
    [hour] = read_kpis(engine, T0, T0 + HOUR, "hour")
    assert (hour["clicks"], hour["orders"], hour["revenue"]) == (2, 1, 20.0)
    [cart] = read_kpis(engine, T0, T0 + DAY, "hour", variant="v2")
    assert (cart["clicks"], cart["adds"], cart["orders"], cart["revenue"]) == (1, 1, 1, 6.0)


def test_a_late_click_that_wins_a_line_takes_it_from_the_earlier_answer(
    engine: sa.Engine, log: Log
) -> None:
    early = log.answer("s1", T0 + 10, ["a"])
    log.click("s1", T0 + 20, early, "a")
    log.order("s1", T0 + 3 * HOUR, "o1", {"a": 10.0})
    log.flush(engine)
    _job(engine).run()
    later = log.answer("s1", T0 + 2 * HOUR, ["a"], placement="cart")
    log.click("s1", T0 + 2 * HOUR + 10, later, "a")  # stored after the order, but before it
    log.flush(engine)
    _job(engine).run()
    assert _table(engine) == _from_scratch(engine)
    revenue = {r["placement"]: r["revenue"] for r in read_kpis(engine, T0, T0 + DAY, "hour")}
    assert revenue == {"home": 0.0, "cart": 20.0}


def test_a_rerun_over_the_same_events_changes_nothing(engine: sa.Engine, log: Log) -> None:
    for batch in _three_batches(log):
        log.rows += batch
    log.flush(engine)
    _job(engine).run()
    once = _table(engine)
    with engine.begin() as conn:  # forget the watermark: every bucket is computed again
        conn.execute(store.bus_offsets.delete())
    _job(engine).run()
    assert _table(engine) == once and len(once) == 6


def test_shoppers_who_refused_analytics_are_not_counted(engine: sa.Engine, log: Log) -> None:
    refused = profile_id_for(anon_key("s-no"))
    with engine.begin() as conn:
        conn.execute(
            store.profiles.insert().values(
                profile_id=refused,
                state={"consent": {"analytics": [False, T0, "m-c"]}},
                merged_into=None,
                updated_at=T0,
            )
        )
    counted = log.answer("s-yes", T0 + 1, ["a"])
    log.click("s-yes", T0 + 2, counted, "a")
    log.order("s-yes", T0 + 3, "o1", {"a": 4.0})
    hidden = log.answer("s-no", T0 + 1, ["b"])
    log.click("s-no", T0 + 2, hidden, "b")
    log.order("s-no", T0 + 3, "o2", {"b": 100.0})
    statement = {"consent": {"purposes": {"analytics": False}}}
    said_no = log.answer("s-said-no", T0 + 1, ["c"])
    log.event(
        "recommendation_clicked",
        "s-said-no",
        T0 + 2,
        {"recommendation_id": said_no, "product_id": "c"},
        context=statement,
    )
    log.flush(engine)
    _job(engine).run()
    [hour] = read_kpis(engine, T0, T0 + HOUR, "hour")
    assert (hour["impressions"], hour["visitors"]) == (2, 2)  # s-yes and s-said-no's answer
    assert (hour["clicks"], hour["orders"], hour["revenue"]) == (1, 1, 8.0)


def test_a_run_reads_the_answers_of_the_slices_it_touches_only(
    engine: sa.Engine, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The day row merges the hours stored by earlier runs (a shopper seen in two hours is one
    visitor of the day) while the run reads only the new slice's answers."""
    add_products(engine, ["a", "b", "c"])
    for hour in range(3):
        log.answer("s1", T0 + hour * HOUR + 5, ["a"])
        log.answer(f"s-{hour}", T0 + hour * HOUR + 6, ["b"])
    log.flush(engine)
    job = _job(engine)
    job.run()
    read: list[tuple[int, int]] = []
    exposures = _Reader.exposures

    def recorded(reader: _Reader, start: int, end: int) -> Iterator[Exposure]:
        read.append((start, end))
        return exposures(reader, start, end)

    monkeypatch.setattr(_Reader, "exposures", recorded)
    log.answer("s1", T0 + 5 * HOUR + 1, ["c"])
    log.flush(engine)
    assert job.run()["slices"] == 1
    assert read == [(T0 + 5 * HOUR, T0 + 5 * HOUR + SLICE_MS)]
    [day] = read_kpis(engine, T0 - DAY, T0 + DAY, "day")
    assert (day["impressions"], day["visitors"], day["distinct_items"]) == (7, 4, 3)
    monkeypatch.undo()
    assert _table(engine) == _from_scratch(engine)


def test_hours_stored_without_sketches_are_computed_again_with_their_day(
    engine: sa.Engine, log: Log
) -> None:
    """Hour rows of an earlier version of the job carry no sketches: the next run touching
    their day computes them again, so the day's distinct counts still cover them."""
    log.answer("s1", T0 + 5, ["a"])
    log.answer("s2", T0 + HOUR + 5, ["b"])
    log.flush(engine)
    _job(engine).run()
    with engine.begin() as conn:
        conn.execute(store.kpi_buckets.update().values(visitor_sketch=None, item_sketch=None))
    log.answer("s1", T0 + 3 * HOUR, ["b"])
    log.flush(engine)
    assert _job(engine).run()["hours"] == 3
    [day] = read_kpis(engine, T0 - DAY, T0 + DAY, "day")
    assert (day["impressions"], day["visitors"], day["distinct_items"]) == (3, 2, 2)
    assert _table(engine) == _from_scratch(engine)


def test_a_later_order_under_a_linked_id_finds_the_click_of_an_earlier_run(
    engine: sa.Engine, log: Log
) -> None:
    """The clicks an order may pay for are looked up by its buyer's ids: here the click came
    anonymously in an earlier run and the order, hours later, under the user id the identity
    graph links to the same profile."""
    profile = profile_id_for(anon_key("s1"))
    with engine.begin() as conn:
        conn.execute(
            store.identities.insert(),
            [
                {"id_key": key, "profile_id": profile, "created_at": T0}
                for key in (anon_key("s1"), user_key("U1"))
            ],
        )
    home = log.answer("s1", T0 + 10, ["a"])
    log.click("s1", T0 + 20, home, "a")
    log.flush(engine)
    job = _job(engine)
    job.run()
    log.order("s-device-2", T0 + 3 * HOUR, "o1", {"a": 12.0})
    log.rows[-1]["user_id"] = "U1"
    log.flush(engine)
    assert job.run()["hours"] == 1  # the answer's hour, found through the click
    [hour] = read_kpis(engine, T0, T0 + HOUR, "hour")
    assert (hour["orders"], hour["revenue"]) == (1, 24.0)
    assert _table(engine) == _from_scratch(engine)


def test_old_slices_are_deleted_and_a_late_click_recomputes_their_hour_whole(
    engine: sa.Engine, log: Log
) -> None:
    """Slice rows two windows behind the newest are deleted; a click stored later on an answer
    of such an hour has the whole hour computed again, not only the clicked answer's slice."""
    early = log.answer("s1", T0 + 60_000, ["a"])
    log.answer("s2", T0 + 20 * 60_000, ["b"])
    log.flush(engine)
    job = _job(engine)
    job.run()
    log.answer("s3", T0 + 3 * DAY, ["c"])
    log.flush(engine)
    job.run()
    slice_starts = sa.select(store.kpi_buckets.c.bucket_start).where(
        store.kpi_buckets.c.grain == SLICE
    )
    with engine.connect() as conn:
        assert list(conn.scalars(slice_starts)) == [T0 + 3 * DAY]
    log.click("s1", T0 + 30 * 60_000, early, "a")  # stored late
    log.flush(engine)
    assert job.run()["slices"] == HOUR // SLICE_MS  # the whole hour
    [hour] = read_kpis(engine, T0, T0 + HOUR, "hour")
    assert (hour["impressions"], hour["clicks"], hour["visitors"]) == (2, 1, 2)
    assert _table(engine) == _from_scratch(engine)
