from __future__ import annotations

from pathlib import Path

import pytest

from shopwise.features import (
    REFUNDED,
    REFUNDED_AT,
    DatasetMissingError,
    check_events,
    check_orders,
    load_cdnow_orders,
    load_online_shoppers,
    load_uci_retail,
)
from shopwise.schema import Columns


def test_missing_dataset_raises_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissingError, match="CDNOW_master"):
        load_cdnow_orders(tmp_path)


@pytest.mark.realdata
def test_cdnow_orders_one_per_customer_day(datasets_dir: Path) -> None:
    orders = load_cdnow_orders(datasets_dir)
    check_orders(orders)
    assert orders[Columns.PROFILE].nunique() == 23_570
    assert not orders.duplicated([Columns.PROFILE, Columns.TIME]).any()


@pytest.mark.realdata
def test_uci_refunds_follow_their_orders(datasets_dir: Path) -> None:
    events, orders = load_uci_retail(datasets_dir)
    check_events(events)
    check_orders(orders)
    assert orders[Columns.PROFILE].nunique() > 4_000
    refunded = orders.loc[orders[REFUNDED]]
    assert 0 < len(refunded) < len(orders)
    assert (refunded[REFUNDED_AT] >= refunded[Columns.TIME]).all()
    assert orders.loc[~orders[REFUNDED], REFUNDED_AT].isna().all()


@pytest.mark.realdata
def test_online_shoppers_shape(datasets_dir: Path) -> None:
    features, label = load_online_shoppers(datasets_dir)
    assert features.shape == (12_330, 17)
    assert int(label.sum()) == 1_908
