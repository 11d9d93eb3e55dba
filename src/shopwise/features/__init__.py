"""Point-in-time correct customer features on pandas frames (the ``features`` pipeline stage).

Inputs are an events frame and an orders frame with the columns declared in
:data:`EVENT_COLUMNS` and :data:`ORDER_COLUMNS`; every function takes an ``as_of`` cutoff and reads
nothing after it. :func:`store_frames` reads both from the shop's event store (consent-filtered);
dataset adapters build the same frames from public data so the same code runs on the shop's store,
on the demo shop and on benchmarks.
"""

from shopwise.features._behaviour import (
    affinities,
    affinity_summary,
    email_features,
    price_features,
    session_features,
)
from shopwise.features._build import FeatureConfig, customer_features
from shopwise.features._datasets import (
    DatasetMissingError,
    load_cdnow_orders,
    load_online_shoppers,
    load_uci_retail,
)
from shopwise.features._frames import (
    EVENT_COLUMNS,
    ORDER_COLUMNS,
    REFUNDED,
    REFUNDED_AT,
    FrameSchemaError,
    as_timestamp,
    check_events,
    check_orders,
    cut,
    days,
    empty_events,
    window,
)
from shopwise.features._orders import order_features, quintile_score
from shopwise.features._store_frames import ItemInfo, StoreFrames, store_frames

__all__ = [
    "EVENT_COLUMNS",
    "ORDER_COLUMNS",
    "REFUNDED",
    "REFUNDED_AT",
    "DatasetMissingError",
    "FeatureConfig",
    "FrameSchemaError",
    "ItemInfo",
    "StoreFrames",
    "affinities",
    "affinity_summary",
    "as_timestamp",
    "check_events",
    "check_orders",
    "customer_features",
    "cut",
    "days",
    "email_features",
    "empty_events",
    "load_cdnow_orders",
    "load_online_shoppers",
    "load_uci_retail",
    "order_features",
    "price_features",
    "quintile_score",
    "session_features",
    "store_frames",
    "window",
]
