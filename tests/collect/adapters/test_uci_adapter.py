"""The UCI Online Retail adapter on a hand-made file, on random bad rows, and on the real file."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shopwise.collect.adapters as adapters
from shopwise import schema
from shopwise.catalog import ProductIn, validate_products
from shopwise.collect.adapters import UciConfig, UciImport, convert_uci, read_uci
from shopwise.errors import InvalidInput, NotFound

NAN = float("nan")
HEART = "WHITE HANGING HEART T-LIGHT HOLDER"
TEA = "RETROSPOT TEA SET CERAMIC 11 PC"
WARMER = "HAND WARMER UNION JACK"
UK = "United Kingdom"

# InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country
ROWS: list[tuple[Any, ...]] = [
    ("536365", "85123A", HEART, 6, "2010-12-01 08:26", 2.55, 17850.0, UK),
    ("536365", "71053", "WHITE METAL LANTERN", 6, "2010-12-01 08:26", 3.39, 17850.0, UK),
    ("536365", "POST", "POSTAGE", 1, "2010-12-01 08:26", 18.0, 17850.0, UK),
    ("536366", "22633", WARMER, 6, "2010-12-01 08:28", 1.85, 17850.0, UK),
    ("536367", "85123A", HEART, 12, "2010-12-02 10:00", 2.45, 13047.0, UK),
    ("C536368", "85123A", HEART, -2, "2010-12-03 09:00", 2.45, 13047.0, UK),
    ("C536369", "99999", "MYSTERY ITEM", -1, "2010-12-03 10:00", 5.0, 13047.0, UK),
    ("536370", "22752", "SET 7 BABUSHKA NESTING BOXES", 2, "2010-12-04 10:00", 7.65, NAN, UK),
    ("536371", "21777", "nan", 10, "2010-12-04 11:00", 0.0, NAN, UK),
    ("536372", "22139", TEA, 5, "2010-12-05 12:00", 0.0, 12583.0, "France"),
    ("536373", "22139", TEA, -3, "2010-12-05 13:00", 4.95, NAN, UK),
    ("A563185", "B", "Adjust bad debt", 1, "2011-08-12 14:50", 11062.06, NAN, UK),
    ("536374", "22139", TEA, 1, "2011-06-06 12:00", 4.95, 12583.0, "France"),
    ("536374", "22139", TEA, 2, "2011-06-06 12:00", 4.95, 12583.0, "France"),
    ("C536375", "22633", WARMER, -1, "2010-12-06 09:00", 1.85, NAN, UK),
]  # fmt: skip


def frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=list(adapters.uci.COLUMNS))
    out["InvoiceDate"] = pd.to_datetime(out["InvoiceDate"])
    return out


def assert_valid(event: dict[str, Any]) -> None:
    schema.Envelope.model_validate(event)
    model = schema.properties_model(event["type"])
    assert model is not None
    model.model_validate(event["properties"])


@pytest.fixture
def converted() -> UciImport:
    return convert_uci(frame(ROWS))


def by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["message_id"]: e for e in events}


def test_public_names() -> None:
    assert set(adapters.__all__) == {
        "UciConfig",
        "UciImport",
        "UciReport",
        "convert_uci",
        "read_uci",
    }
    assert UciConfig.model_validate(UciConfig().model_dump()) == UciConfig()


def test_orders_one_per_invoice_with_a_customer(converted: UciImport) -> None:
    events = by_id(converted.events)
    orders = {k: e for k, e in events.items() if e["type"] == "order_completed"}
    assert set(orders) == {
        "uci-order-536365",
        "uci-order-536366",
        "uci-order-536367",
        "uci-order-536374",
    }
    first = orders["uci-order-536365"]
    assert first["user_id"] == "uci-17850"
    assert first["timestamp"] == "2010-12-01T08:26:00+00:00"
    props = first["properties"]
    assert props["order_id"] == "536365"
    assert props["currency"] == "GBP"
    assert sorted((p["product_id"], p["quantity"], p["price"]) for p in props["products"]) == [
        ("71053", 6, 3.39),
        ("85123A", 6, 2.55),
    ]
    assert props["revenue"] == pytest.approx(6 * 2.55 + 6 * 3.39)
    assert props["shipping"] == 18.0  # the POST line is postage, not a product
    # two lines of the same product at the same price become one line; summer time is +01:00
    summer = orders["uci-order-536374"]
    assert summer["timestamp"] == "2011-06-06T12:00:00+01:00"
    assert summer["properties"]["products"] == [
        {"product_id": "22139", "quantity": 3, "price": 4.95}
    ]
    for event in converted.events:
        assert_valid(event)


def test_cancellations_become_refunds_of_the_matching_order(converted: UciImport) -> None:
    events = by_id(converted.events)
    matched = events["uci-refund-C536368"]
    assert matched["type"] == "order_refunded"
    assert matched["user_id"] == "uci-13047"
    assert matched["properties"]["order_id"] == "536367"
    assert matched["properties"]["matched"] is True
    assert matched["properties"]["products"] == [
        {"product_id": "85123A", "quantity": 2, "price": 2.45}
    ]
    assert matched["properties"]["revenue"] == pytest.approx(4.9)
    unmatched = events["uci-refund-C536369"]
    assert unmatched["properties"]["order_id"] == "C536369"
    assert unmatched["properties"]["matched"] is False
    assert converted.report.unmatched_refunds == 1


def test_catalog_rows(converted: UciImport) -> None:
    rows = {row["id"]: row for row in converted.products}
    # 99999 was never sold (only cancelled), 21777 has no description, B/POST are not products
    assert set(rows) == {"85123A", "71053", "22633", "22752", "22139"}
    heart = rows["85123A"]
    assert heart["title"] == "White Hanging Heart T-Light Holder"
    assert heart["description"] == HEART
    assert heart["price"] == pytest.approx(2.5)  # median of 2.55 and 2.45
    assert heart["currency"] == "GBP"
    assert heart["created_at"] == "2010-12-01T08:26:00+00:00"
    assert heart["category"] == ["Home Decor"]
    assert heart["tags"] == ["white"]
    assert rows["22139"]["category"] == ["Kitchen & Dining"]
    assert rows["22139"]["created_at"] == "2011-06-06T12:00:00+01:00"  # the zero-price line is bad
    assert rows["22752"]["price"] == 7.65  # guest sales still shape the catalog
    plain = convert_uci(frame(ROWS), UciConfig(derive_categories=False))
    assert all(row["category"] == [] for row in plain.products)


def test_report_accounts_for_every_row(converted: UciImport) -> None:
    report = converted.report
    assert report.rows == len(ROWS)
    assert report.skipped == {
        "fee_or_postage": 1,
        "missing_description": 1,
        "non_positive_price": 1,
        "stock_adjustment": 1,
        "adjustment_invoice": 1,
        "cancellation_without_customer": 1,
    }
    assert (report.order_rows, report.refund_rows, report.guest_rows) == (6, 2, 1)
    assert report.rows == (
        report.order_rows + report.refund_rows + report.guest_rows + sum(report.skipped.values())
    )
    assert (report.orders, report.refunds, report.products) == (4, 2, 5)
    assert report.examples["non_positive_price"][0]["InvoiceNo"] == "536372"
    assert "skipped (missing_description): 1" in report.summary()


def test_guests_optional() -> None:
    result = convert_uci(frame(ROWS), UciConfig(include_guests=True))
    guest = by_id(result.events)["uci-order-536370"]
    assert guest["anonymous_id"] == "uci-guest-536370"
    assert "user_id" not in guest
    assert result.report.guest_rows == 0
    assert result.report.order_rows == 7


def test_reimport_gives_the_same_message_ids(converted: UciImport) -> None:
    again = convert_uci(frame(ROWS[::-1]))
    assert again.events == converted.events
    ids = [e["message_id"] for e in converted.events]
    assert len(set(ids)) == len(ids)
    moments = [datetime.fromisoformat(e["timestamp"]) for e in converted.events]
    assert moments == sorted(moments)


def test_reads_a_parquet_file(tmp_path: Path, converted: UciImport) -> None:
    path = tmp_path / "online_retail.parquet"
    frame(ROWS).to_parquet(path)
    assert read_uci(path).events == converted.events
    with pytest.raises(NotFound):
        read_uci(tmp_path / "missing.parquet")
    with pytest.raises(InvalidInput, match="Country"):
        convert_uci(frame(ROWS).drop(columns=["Country"]))


CORRUPTIONS: dict[str, tuple[int, list[Any]]] = {
    "invoice": (0, ["", " ", "A1", None]),
    "code": (1, ["", "POST", "M", "gift_0001_10", None]),
    "description": (2, ["nan", "", "?", None, "  spaced   out  "]),
    "quantity": (3, [0, -4, NAN]),
    "date": (4, [None]),
    "price": (5, [0.0, -1.5, NAN, float("inf")]),
    "customer": (6, [NAN]),
}


@st.composite
def uci_rows(draw: st.DrawFn) -> tuple[Any, ...]:
    """A plausible invoice line, often with one field broken the way the real file breaks."""
    cancel = draw(st.booleans())
    quantity = draw(st.integers(1, 12))
    row = [
        ("C" if cancel else "") + draw(st.sampled_from(["536001", "536002", "536003"])),
        draw(st.sampled_from(["85123A", "22139", "71053"])),
        draw(st.sampled_from([HEART, TEA, WARMER])),
        -quantity if cancel else quantity,
        pd.Timestamp(draw(st.datetimes(datetime(2010, 12, 1), datetime(2011, 12, 9)))),
        draw(st.floats(0.01, 50.0)),
        draw(st.sampled_from([17850.0, 13047.0])),
        draw(st.sampled_from(["United Kingdom", "France", ""])),
    ]
    broken = draw(st.sampled_from([None, None, None, *CORRUPTIONS]))
    if broken is not None:
        column, values = CORRUPTIONS[broken]
        row[column] = draw(st.sampled_from(values))
    return tuple(row)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(uci_rows(), min_size=0, max_size=25))
def test_bad_rows_are_reported_never_fatal(rows: list[tuple[Any, ...]]) -> None:
    data = pd.DataFrame(rows, columns=list(adapters.uci.COLUMNS))
    data["InvoiceDate"] = pd.to_datetime(data["InvoiceDate"])
    result = convert_uci(data)
    report = result.report
    assert report.rows == len(rows)
    assert report.rows == (
        report.order_rows + report.refund_rows + report.guest_rows + sum(report.skipped.values())
    )
    assert report.orders + report.refunds == len(result.events)
    assert len({e["message_id"] for e in result.events}) == len(result.events)
    for event in result.events:
        assert_valid(event)
        assert event["properties"]["revenue"] >= 0
    assert len(validate_products(result.products)) == len(result.products)
    for row in result.products:
        assert row["price"] > 0


@pytest.mark.slow
@pytest.mark.realdata
def test_real_file(datasets_dir: Path) -> None:
    path = datasets_dir / "uci-online-retail" / "online_retail.parquet"
    if not path.is_file():
        pytest.skip(reason=f"{path} is missing")
    result = read_uci(path)
    report = result.report
    assert report.rows == 541_909
    assert report.rows == (
        report.order_rows + report.refund_rows + report.guest_rows + sum(report.skipped.values())
    )
    assert 3_500 <= report.products <= 4_070
    assert 18_000 <= report.orders <= 19_000  # about 18.5k invoices with a customer
    assert 3_000 <= report.refunds <= 3_836
    assert report.unmatched_refunds < 0.15 * report.refunds
    users = {e["user_id"] for e in result.events}
    assert 4_300 <= len(users) <= 4_372
    for row in result.products:
        ProductIn.model_validate(row)
    kinds = Counter(e["type"] for e in result.events)
    assert kinds["order_completed"] == report.orders
    for event in result.events[::10]:
        assert_valid(event)
    # every usable sale line of a known customer reaches an order: compare revenue sums
    revenue = sum(
        e["properties"]["revenue"] for e in result.events if e["type"] == "order_completed"
    )
    raw = pd.read_parquet(path)
    usable = (
        raw["CustomerID"].notna()
        & raw["InvoiceNo"].str.match(r"^\d")
        & (raw["Quantity"] > 0)
        & (raw["UnitPrice"] > 0)
        & raw["StockCode"].str.match(r"^\d{5}")
    )
    expected = float((raw.loc[usable, "Quantity"] * raw.loc[usable, "UnitPrice"]).sum())
    assert revenue == pytest.approx(expected, rel=0.01)
    assert np.isfinite(revenue)


def test_shared_cleaning_rules_on_edge_values() -> None:
    uci = adapters.uci
    codes = pd.Series([" 85123a ", "bank  charges", None, "nan", "22139"])
    assert uci.stock_codes(codes).tolist() == ["85123A", "BANK CHARGES", "", "", "22139"]
    invoices = pd.Series(["C536368", " c1", "536365", None, "A563185"])
    assert uci.cancellations(invoices).tolist() == [True, True, False, False, False]
    customers = pd.Series([17850.0, NAN, "12583", "x"])
    assert uci.customer_ids(customers).tolist() == ["17850", "", "12583", ""]
    numbers = pd.Series([1.0, 0.0, -2.0, NAN, float("inf"), "3"])
    assert uci.positive(numbers).tolist() == [True, False, False, False, False, True]


def test_sale_lines_are_the_customer_purchases_the_adapter_orders() -> None:
    raw = frame(ROWS)
    sales = raw[adapters.uci.sale_lines(raw)]
    # every sale line is an order line of the import, except the fee/postage code it skips
    assert sales["InvoiceNo"].tolist() == ["536365"] * 3 + ["536366", "536367", "536374", "536374"]
    imported = convert_uci(raw)
    assert imported.report.order_rows == len(sales) - int((sales["StockCode"] == "POST").sum())
