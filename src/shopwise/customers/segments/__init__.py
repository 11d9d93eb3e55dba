"""Segments, audiences, lookalikes and bidding: who the customers are and how to reach them.

K-Means (k by silhouette) and DBSCAN segment customers on scaled RFM and behaviour features, with
plain-word names; :class:`Audience` objects define rule-based audiences on the same feature frames;
:func:`lookalike_scores` ranks customers by similarity to a seed audience; :func:`bid_multipliers`
turns conversion probability and order value into bounded, explained multipliers; the export helpers
write consent-filtered CSVs with hashed emails.
"""

from shopwise.customers.segments._audiences import (
    CART_ABANDONERS_3D,
    LAPSED_VIPS,
    Audience,
    Condition,
    memberships,
)
from shopwise.customers.segments._bidding import BidConfig, bid_multipliers
from shopwise.customers.segments._cluster import (
    SEGMENT_FEATURES,
    Scaling,
    Segmentation,
    SegmentConfig,
    dbscan_segments,
    fit_scaling,
    fit_segments,
    name_segment,
    segment_profiles,
    segment_sizes,
)
from shopwise.customers.segments._export import (
    HASHED_EMAIL,
    ConsentPredicate,
    audience_rows,
    hash_email,
    write_audience,
    write_audience_csv,
    write_bids_csv,
)
from shopwise.customers.segments._lookalike import LookalikeConfig, lookalike_scores

__all__ = [
    "CART_ABANDONERS_3D",
    "HASHED_EMAIL",
    "LAPSED_VIPS",
    "SEGMENT_FEATURES",
    "Audience",
    "BidConfig",
    "Condition",
    "ConsentPredicate",
    "LookalikeConfig",
    "Scaling",
    "SegmentConfig",
    "Segmentation",
    "audience_rows",
    "bid_multipliers",
    "dbscan_segments",
    "fit_scaling",
    "fit_segments",
    "hash_email",
    "lookalike_scores",
    "memberships",
    "name_segment",
    "segment_profiles",
    "segment_sizes",
    "write_audience",
    "write_audience_csv",
    "write_bids_csv",
]
