"""Cold start through the temporal protocol: new items are scored from the catalog alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopwise.evaluate import EventLog, RunOptions, run_temporal
from shopwise.recommend.candidates import ItemContent, ItemIndex
from shopwise.schema import Columns

COLOURS = ("red", "blue", "green", "pink", "ivory", "gold", "black", "white")
FAMILIES = (("ceramic mug", "ceramic jug"), ("garden spade", "garden rake"))
CUTOFF = pd.Timestamp("2024-01-20")


def _catalog() -> list[tuple[str, str]]:
    """(title, family) per item: each family's old product in every colour, then its new one."""
    old = [(f"{old} {c}", f) for f, (old, _) in enumerate(FAMILIES) for c in COLOURS]
    new = [(f"{new} {c}", f) for f, (_, new) in enumerate(FAMILIES) for c in COLOURS]
    return [(t, str(f)) for t, f in old + new]


def _log() -> EventLog:
    """Each shopper buys two old items of a family before the cutoff and the new one after.

    The new item shares the colour of the shopper's latest purchase: its title says which.
    """
    n = len(COLOURS)
    day = pd.Timestamp("2024-01-01")
    rows = []
    for family in range(len(FAMILIES)):
        for user in range(2 * n):
            colour = user % n
            name = f"u{family}-{user}"
            rows.append((name, family * n + (colour + 1) % n, day))
            rows.append((name, family * n + colour, day + pd.Timedelta(days=18, hours=18)))
            rows.append((name, 2 * n + family * n + colour, CUTOFF + pd.Timedelta(hours=12)))
    catalog = _catalog()
    events = pd.DataFrame(
        {
            Columns.USER: [r[0] for r in rows],
            Columns.ITEM: np.asarray([r[1] for r in rows], dtype=np.int64),
            Columns.TIME: [r[2] for r in rows],
        }
    ).sort_values(Columns.TIME, kind="stable", ignore_index=True)
    content = ItemContent(
        texts=[t for t, _ in catalog],
        categories=[[f] for _, f in catalog],
        brands=[""] * len(catalog),
    )
    return EventLog(events, ItemIndex(tuple(f"p{i}" for i in range(len(catalog)))), content)


def _cold(model: str) -> tuple[dict[str, float], dict[str, float]]:
    result = run_temporal(_log(), CUTOFF, RunOptions(model=model), dataset="toy")
    block, new_items = result.extra["cold_start"], result.extra["cold_start_new_items"]
    assert block["users"] == new_items["users"] == 2 * 2 * len(COLOURS)
    return block["metrics"], new_items["metrics"]


def test_popularity_cannot_place_a_never_sold_item() -> None:
    full, _ = _cold("popular")
    # every new item scores 0 and sits behind the 14 sold items the shopper does not have
    assert full["HR@10"] == 0.0


@pytest.mark.parametrize("model", ["content", "popular_category"])
def test_catalog_aware_models_find_new_items(model: str) -> None:
    _, popular_new = _cold("popular")
    full, new_items = _cold(model)
    assert new_items["NDCG@10"] > popular_new["NDCG@10"]
    if model == "content":
        # the title pins the colour down: first among the new items, top 10 among all items
        assert new_items["MRR@20"] == 1.0 and full["HR@10"] == 1.0
