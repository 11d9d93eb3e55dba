"""Drift reports on a synthetic store: a category surge and a new price band are flagged, an
unchanged recent window is not; the report is saved as JSON and PNG; too little data is said."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
import sqlalchemy as sa
from tests.drift.helpers import DAY, DriftShop, drift_shop

from shopwise import store
from shopwise.drift import DriftConfig, DriftMonitor, reference_window
from shopwise.errors import NotEnoughData
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.worker import drift_monitor


@pytest.fixture
def built(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.build(settings, migrate=True)
    runtime.start()
    yield runtime
    runtime.stop()


@pytest.fixture
def shop(built: Runtime) -> DriftShop:
    return drift_shop(built)


def test_an_unchanged_recent_window_is_not_drift(shop: DriftShop) -> None:
    shop.add_recent("none")
    report = drift_monitor(shop.runtime).check()
    assert report.verdict == "no_drift", [(f.name, f.fired, f.statistics) for f in report.drifted]
    names = {f.name for f in report.features}
    assert {"price", "price_band", "category", "event_type", "hour_of_day"} <= names
    assert {"events_per_profile_day", "events_per_session", "recommender_top_score"} <= names
    assert all(f.drifted is False for f in report.features)
    assert report.reference.start_ms == shop.reference[0]
    assert report.recent.start_ms >= shop.reference[1]
    assert report.reference.source == "data_window"


def test_a_category_surge_is_flagged_in_the_category_shares(shop: DriftShop) -> None:
    shop.add_recent("surge")
    report = drift_monitor(shop.runtime).check()
    assert report.verdict == "drift"
    category = next(f for f in report.features if f.name == "category")
    assert category.drifted is True and "psi" in category.fired
    assert category.summary["recent"]["Sports"] > 0.6 > category.summary["reference"]["Sports"]
    flagged = {f.name for f in report.drifted}
    assert "price_band" not in flagged  # same products, same prices


def test_a_new_price_band_is_flagged_in_price_and_band(shop: DriftShop) -> None:
    shop.add_recent("price")
    report = drift_monitor(shop.runtime).check()
    flagged = {f.name for f in report.drifted}
    assert {"price", "price_band"} <= flagged
    band = next(f for f in report.features if f.name == "price_band")
    assert "500-1000" in band.summary["recent"] and "500-1000" not in band.summary["reference"]


def test_the_report_is_saved_as_json_and_png_and_read_back_as_the_latest(
    shop: DriftShop, tmp_path: Path
) -> None:
    shop.add_recent("surge")
    monitor = drift_monitor(shop.runtime, tmp_path / "reports")
    assert monitor.latest() is None
    report = monitor.check()
    assert report.folder is not None and report.folder.parent == tmp_path / "reports"
    saved = orjson.loads((report.folder / "report.json").read_bytes())
    assert saved == monitor.latest()
    assert saved["verdict"] == "drift" and "category" in saved["drifted_features"]
    assert saved["windows"]["reference"]["start_ms"] == shop.reference[0]
    assert saved["thresholds"]["psi"] == 0.2
    assert saved["events"]["reference"] > 1000 and saved["events"]["recent"] > 1000
    feature = next(f for f in saved["features"] if f["name"] == "category")
    assert feature["n_reference"] > 1000 and feature["statistics"]["psi"] >= 0.2
    assert (report.folder / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_too_few_recent_events_and_no_champion_are_refused(
    shop: DriftShop, settings: Settings
) -> None:
    with pytest.raises(NotEnoughData, match="recent window"):
        drift_monitor(shop.runtime).check()
    empty = Settings(data_dir=settings.data_dir / "empty", log_level="WARNING")
    other = Runtime.build(empty, migrate=True)
    try:
        with pytest.raises(NotEnoughData, match="no recommender champion"):
            drift_monitor(other).check()
    finally:
        other.stop()


def test_the_recent_window_starts_where_the_training_window_ends(shop: DriftShop) -> None:
    shop.add_recent("surge")
    config = DriftConfig(recent_days=30)
    monitor = DriftMonitor(
        shop.runtime.engine,
        shop.runtime.catalog,
        shop.runtime.consent,
        shop.runtime.recommenders,
        shop.runtime.settings.data_dir / "drift",
        config,
    )
    report = monitor.check()
    assert report.recent.start_ms == shop.reference[1] + 1  # the window holds its last event
    assert report.events["reference"] > 0 and report.verdict == "drift"


def test_without_a_recorded_window_the_reference_is_the_days_before_saving() -> None:
    window = reference_window({"saved_at": "2026-03-01T00:00:00+00:00"}, reference_days=28)
    assert window is not None and window.source == "saved_at"
    assert window.end_ms - window.start_ms == 28 * DAY
    recorded = reference_window({"data_window": {"start_ms": 5, "end_ms": 9}}, 28)
    assert recorded is not None and (recorded.start_ms, recorded.end_ms) == (5, 10)
    assert reference_window({}, 28) is None


def _store_scores(runtime: Runtime, version: str, values: list[float]) -> None:
    rows = [
        {
            "profile_id": f"p{i}",
            "name": "purchase_propensity",
            "value": value,
            "model_version": version,
            "as_of": 0,
            "scored_at": 0,
        }
        for i, value in enumerate(values)
    ]
    with runtime.engine.begin() as conn:
        conn.execute(sa.delete(store.customer_scores))
        conn.execute(sa.insert(store.customer_scores), rows)


def test_stored_customer_scores_are_compared_with_their_first_checked_distribution(
    shop: DriftShop,
) -> None:
    shop.add_recent("none")
    rng = np.random.default_rng(3)
    _store_scores(shop.runtime, "v1", list(rng.beta(2, 8, 400)))
    monitor = drift_monitor(shop.runtime)
    first = next(f for f in monitor.check().features if f.name == "customer:purchase_propensity")
    assert first.drifted is None and "baseline" in first.summary
    _store_scores(shop.runtime, "v1", list(rng.beta(2, 8, 400)))
    same = next(f for f in monitor.check().features if f.name == "customer:purchase_propensity")
    assert same.drifted is False and same.n_reference == 400
    _store_scores(shop.runtime, "v1", list(rng.beta(5, 5, 400)))
    moved = monitor.check()
    assert "customer:purchase_propensity" in [f.name for f in moved.drifted]
    _store_scores(shop.runtime, "v2", list(rng.beta(5, 5, 400)))
    renewed = next(f for f in monitor.check().features if f.name.startswith("customer:"))
    assert renewed.drifted is None  # a new model version: a new baseline
