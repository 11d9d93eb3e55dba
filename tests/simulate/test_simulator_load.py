"""Loading simulated shops and the UCI adapter's output through the real collector and catalog."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from shopwise.catalog import validate_products
from shopwise.collect import IngestResult
from shopwise.collect.adapters import convert_uci
from shopwise.runtime import Runtime
from shopwise.simulate import SimulatedShop, load

HEART = "WHITE HANGING HEART T-LIGHT HOLDER"


def test_catalog_rows_pass_catalog_validation(quick_shop: SimulatedShop) -> None:
    assert len(validate_products(quick_shop.products)) == len(quick_shop.products)


def test_quick_shop_loads_stitches_and_reloads_as_duplicates(
    runtime: Runtime, quick_shop: SimulatedShop
) -> None:
    first = load(quick_shop, runtime.collector.ingest, runtime.catalog.upsert)
    answers = [r for r in first.responses if isinstance(r, IngestResult)]
    assert len(answers) == len(first.responses)
    assert [r for a in answers for r in a.rejected] == []
    assert sum(a.accepted for a in answers) == len(quick_shop.events)
    assert runtime.bus.wait_until_consumed(max(a.last_event_id for a in answers), timeout=120)

    # the profiles stage links exactly the anonymous ids the ground truth says it can
    seen_with_user = {
        (e["anonymous_id"], e["user_id"])
        for e in quick_shop.events
        if "anonymous_id" in e and "user_id" in e
    }
    linkable = {anonymous for anonymous, _ in seen_with_user}
    owner = quick_shop.truth.owner_of_anonymous_id
    for anonymous, customer in owner.items():
        if anonymous in linkable:
            assert runtime.profiles.canonical(anonymous) == runtime.profiles.canonical(customer)
    canonical_ids = Counter(runtime.profiles.canonical(c.customer_id) for c in quick_shop.customers)
    assert all(n == 1 for key, n in canonical_ids.items() if key is not None)
    assert len(linkable) > 100

    again = load(quick_shop, runtime.collector.ingest, runtime.catalog.upsert)
    repeated = [r for r in again.responses if isinstance(r, IngestResult)]
    assert sum(a.accepted for a in repeated) == 0
    assert sum(a.duplicates for a in repeated) == len(quick_shop.events)


def test_uci_import_loads(runtime: Runtime) -> None:
    rows = pd.DataFrame(
        {
            "InvoiceNo": ["536365", "536365", "C536366"],
            "StockCode": ["85123A", "71053", "85123A"],
            "Description": [HEART, "WHITE METAL LANTERN", HEART],
            "Quantity": [6, 6, -1],
            "InvoiceDate": pd.to_datetime(["2010-12-01 08:26"] * 2 + ["2010-12-02 09:00"]),
            "UnitPrice": [2.55, 3.39, 2.55],
            "CustomerID": [17850.0, 17850.0, 17850.0],
            "Country": ["United Kingdom"] * 3,
        }
    )
    imported = convert_uci(rows)
    result = load(imported, runtime.collector.ingest, runtime.catalog.upsert)
    answers = [r for r in result.responses if isinstance(r, IngestResult)]
    assert sum(a.accepted for a in answers) == 2
    assert [r for a in answers for r in a.rejected] == []
    assert runtime.catalog.get("85123A").title == "White Hanging Heart T-Light Holder"
