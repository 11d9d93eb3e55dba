"""Adapters from public datasets to the events and orders frames of this stage.

Benchmarks and ``realdata`` tests run the production feature and model code on real data by
converting each dataset once into the declared frames: CDNOW (one order per customer and day, as in
Fader and Hardie), UCI Online Retail (one order per invoice, each cancellation invoice marks that
customer's latest earlier order as refunded at the cancellation time, invoice lines become
``order_completed`` item events) and the Online Shoppers Intention sessions (already a feature
table: returned as features and label). The product never needs these files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopwise.errors import NotFound
from shopwise.features._frames import REFUNDED, REFUNDED_AT
from shopwise.schema import Columns, EventType


class DatasetMissingError(NotFound):
    """A dataset file is not where the adapter looked."""

    code = "dataset_missing"


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DatasetMissingError(f"dataset file not found: {path}")
    return path


def load_cdnow_orders(root: Path) -> pd.DataFrame:
    """CDNOW master purchases as an orders frame, one order per customer and day.

    Parameters
    ----------
    root
        The datasets folder holding ``cdnow/CDNOW_master.txt``.

    Returns
    -------
    pandas.DataFrame
        Orders frame; profile ids are the master file's customer ids as text, revenue in dollars,
        ``quantity`` the number of CDs.
    """
    raw = pd.read_csv(_require(root / "cdnow" / "CDNOW_master.txt"), sep=r"\s+")
    raw["day"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d").dt.tz_localize("UTC")
    daily = raw.groupby(["customer_id", "day"], as_index=False).agg(
        revenue=("dollar_value", "sum"), quantity=("number_of_cds", "sum")
    )
    profile = daily["customer_id"].astype(str)
    return pd.DataFrame(
        {
            Columns.PROFILE: profile,
            Columns.ORDER: profile + "-" + daily["day"].dt.strftime("%Y%m%d"),
            Columns.TIME: daily["day"],
            Columns.REVENUE: daily["revenue"].astype(float),
            Columns.DISCOUNT: 0.0,
            Columns.QUANTITY: daily["quantity"].astype(float),
            REFUNDED: False,
        }
    )


def load_uci_retail(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """UCI Online Retail as ``(events, orders)`` frames, customers with an id only.

    Parameters
    ----------
    root
        The datasets folder holding ``uci-online-retail/online_retail.parquet``.

    Returns
    -------
    tuple of pandas.DataFrame
        ``events``: one ``order_completed`` item event per invoice line (session = invoice);
        ``orders``: one row per purchase invoice with revenue in GBP and the refund columns.
    """
    raw = pd.read_parquet(_require(root / "uci-online-retail" / "online_retail.parquet"))
    raw = raw.loc[raw["CustomerID"].notna()].copy()
    raw["profile"] = raw["CustomerID"].astype("int64").astype(str)
    raw["time"] = pd.to_datetime(raw["InvoiceDate"]).dt.tz_localize("UTC")
    raw["amount"] = raw["Quantity"] * raw["UnitPrice"]
    cancelled = raw["InvoiceNo"].astype(str).str.startswith("C")
    lines = raw.loc[~cancelled & (raw["Quantity"] > 0) & (raw["UnitPrice"] > 0)]
    orders = lines.groupby("InvoiceNo", as_index=False).agg(
        profile=("profile", "first"), time=("time", "min"), revenue=("amount", "sum")
    )
    orders = orders.sort_values("time")
    cancels = (
        raw.loc[cancelled]
        .groupby("InvoiceNo", as_index=False)
        .agg(profile=("profile", "first"), time=("time", "min"))
    ).sort_values("time")
    # Each cancellation refunds the customer's latest order placed before it.
    matched = pd.merge_asof(
        cancels.rename(columns={"time": "refund_time"}),
        orders[["InvoiceNo", "profile", "time"]].rename(columns={"InvoiceNo": "refunded_order"}),
        left_on="refund_time",
        right_on="time",
        by="profile",
        direction="backward",
    ).dropna(subset=["refunded_order"])
    first_refund = matched.groupby("refunded_order")["refund_time"].min()
    refund_time = orders["InvoiceNo"].map(first_refund)
    orders_frame = pd.DataFrame(
        {
            Columns.PROFILE: orders["profile"].to_numpy(),
            Columns.ORDER: orders["InvoiceNo"].astype(str).to_numpy(),
            Columns.TIME: orders["time"].to_numpy(),
            Columns.REVENUE: orders["revenue"].astype(float).to_numpy(),
            Columns.DISCOUNT: 0.0,
            REFUNDED: refund_time.notna().to_numpy(),
            REFUNDED_AT: pd.to_datetime(refund_time, utc=True).to_numpy(),
        }
    )
    orders_frame[Columns.TIME] = pd.to_datetime(orders_frame[Columns.TIME], utc=True)
    orders_frame[REFUNDED_AT] = pd.to_datetime(orders_frame[REFUNDED_AT], utc=True)
    events = pd.DataFrame(
        {
            Columns.PROFILE: lines["profile"].to_numpy(),
            Columns.TYPE: str(EventType.ORDER_COMPLETED),
            Columns.TIME: lines["time"].to_numpy(),
            Columns.SESSION: lines["InvoiceNo"].astype(str).to_numpy(),
            Columns.ITEM: lines["StockCode"].astype(str).to_numpy(),
            Columns.PRICE: lines["UnitPrice"].astype(float).to_numpy(),
            Columns.CATEGORY: None,
            Columns.BRAND: None,
            Columns.QUANTITY: lines["Quantity"].astype(float).to_numpy(),
        }
    )
    events[Columns.TIME] = pd.to_datetime(events[Columns.TIME], utc=True)
    return events, orders_frame.reset_index(drop=True)


def load_online_shoppers(root: Path) -> tuple[pd.DataFrame, pd.Series]:
    """Online Shoppers Purchasing Intention sessions as ``(features, label)``.

    Parameters
    ----------
    root
        The datasets folder holding ``online-shoppers-intention/online_shoppers_intention.csv``.

    Returns
    -------
    tuple
        A feature frame (``Month``, ``VisitorType`` and the small-integer id columns as pandas
        categoricals, ``Weekend`` as 0/1) and the boolean label ``Revenue``.
    """
    path = root / "online-shoppers-intention" / "online_shoppers_intention.csv"
    raw = pd.read_csv(_require(path))
    label = raw.pop("Revenue").astype(bool)
    for column in ("Month", "VisitorType", "OperatingSystems", "Browser", "Region", "TrafficType"):
        raw[column] = raw[column].astype(str).astype("category")
    raw["Weekend"] = raw["Weekend"].astype(float)
    return raw, label
