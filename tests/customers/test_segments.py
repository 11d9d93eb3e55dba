from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pytest

from shopwise.customers.segments import (
    CART_ABANDONERS_3D,
    Audience,
    BidConfig,
    Condition,
    LookalikeConfig,
    SegmentConfig,
    audience_rows,
    bid_multipliers,
    dbscan_segments,
    fit_segments,
    hash_email,
    lookalike_scores,
    memberships,
    name_segment,
    segment_profiles,
    segment_sizes,
    write_audience_csv,
    write_bids_csv,
)

FEATURES = ("recency_days", "frequency", "monetary")


def _blobs(rng: np.random.Generator, n: int = 80) -> pd.DataFrame:
    """Three customer types: recent big spenders, lapsed regulars, new one-off buyers."""
    centres = [(5.0, 20.0, 2000.0), (200.0, 8.0, 600.0), (10.0, 1.0, 30.0)]
    rows = []
    for kind, (recency, frequency, monetary) in enumerate(centres):
        for _ in range(n):
            rows.append(
                {
                    "recency_days": recency * rng.lognormal(0, 0.1),
                    "frequency": frequency * rng.lognormal(0, 0.1),
                    "monetary": monetary * rng.lognormal(0, 0.1),
                    "kind": kind,
                }
            )
    frame = pd.DataFrame(rows)
    frame.index = pd.Index([f"p{i}" for i in range(len(frame))])
    return frame


def test_kmeans_picks_k_by_silhouette_and_names_segments(rng: np.random.Generator) -> None:
    frame = _blobs(rng)
    config = SegmentConfig(features=FEATURES, k_min=2, k_max=5, n_init=2)
    segmentation = fit_segments(frame, config, seed=0)
    assert segmentation.k == 3
    assert max(segmentation.silhouettes, key=segmentation.silhouettes.get) == 3
    assert set(segmentation.silhouettes) == {2, 3, 4, 5}
    names = segmentation.assign(frame)
    by_kind = names.groupby(frame["kind"]).agg(lambda s: s.mode()[0])
    assert by_kind[0] == "champions"
    assert by_kind[1] == "at risk"
    assert by_kind[2] == "new customers"
    # segments agree with the latent types exactly on well-separated blobs
    assert names.groupby(frame["kind"]).nunique().eq(1).all()
    table = segment_profiles(frame[list(FEATURES)], names)
    assert table["customers"].sum() == len(frame)
    assert table["share"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("r", "f", "m", "t", "name"),
    [
        (-1, 1, 1, 0, "champions"),
        (-1, 1, 0, 0, "loyal customers"),
        (-1, -1, -1, -1, "new customers"),
        (-1, -1, -1, 1, "occasional buyers"),
        (1, 1, 1, 0, "at risk"),
        (1, -1, -1, 0, "hibernating"),
        (0, 1, 1, 0, "need attention"),
        (0, 0, 0, 0, "occasional buyers"),
    ],
)
def test_segment_names_from_centroids(r: float, f: float, m: float, t: float, name: str) -> None:
    assert name_segment(r, f, m, t) == name


def test_dbscan_marks_isolated_customers_as_noise(rng: np.random.Generator) -> None:
    frame = _blobs(rng, n=60)
    outlier = pd.DataFrame(
        {"recency_days": [1000.0], "frequency": [400.0], "monetary": [1e6], "kind": [9]},
        index=["odd"],
    )
    labels = dbscan_segments(pd.concat([frame, outlier]), SegmentConfig(features=FEATURES))
    assert labels["odd"] == -1
    assert labels.drop("odd").ne(-1).mean() > 0.8
    assert labels.drop("odd").groupby(frame["kind"]).nunique().max() <= 2


def test_audience_rules_and_json_round_trip() -> None:
    frame = pd.DataFrame(
        {
            "days_since_cart_add": [1.0, 2.0, 5.0, np.nan, 0.5],
            "recency_days": [np.nan, 1.0, np.nan, 3.0, 10.0],
        },
        index=["never_ordered", "ordered_after_cart", "old_cart", "no_cart", "ordered_before"],
    )
    members = CART_ABANDONERS_3D.members(frame)
    assert list(members) == ["never_ordered", "ordered_before"]
    restored = Audience.model_validate_json(CART_ABANDONERS_3D.model_dump_json())
    assert restored == CART_ABANDONERS_3D
    anyone = Audience(
        name="either",
        match="any",
        conditions=(
            Condition(feature="recency_days", op="<", value=2),
            Condition(feature="days_since_cart_add", op=">=", value=5),
        ),
    )
    table = memberships(frame, (CART_ABANDONERS_3D, anyone))
    assert list(table.columns) == ["carted_3d_no_order", "either"]
    assert table["either"].tolist() == [False, True, True, False, False]
    with pytest.raises(ValueError, match="exactly one"):
        Condition(feature="x", op="<", value=1, other="y")


def test_lookalikes_rank_the_seed_type_first(rng: np.random.Generator) -> None:
    frame = _blobs(rng, n=50)
    seed = frame.index[frame["kind"] == 0][:10]
    scores = lookalike_scores(frame, seed, LookalikeConfig(features=FEATURES))
    assert not scores.index.isin(seed).any()
    top = scores.head(40).index
    assert (frame.loc[top, "kind"] == 0).all()
    assert scores.is_monotonic_decreasing and scores.between(0, 1).all()


def test_bid_multipliers_are_bounded_and_explained() -> None:
    profiles = [f"p{i}" for i in range(90)]
    audience = pd.Series(
        ["hot"] * 30 + ["cold"] * 30 + ["warm"] * 25 + ["tiny"] * 5, index=profiles
    )
    conversion = pd.Series([0.9] * 30 + [0.01] * 30 + [0.3] * 25 + [0.9] * 5, index=profiles)
    value = pd.Series(50.0, index=profiles)
    bids = bid_multipliers(
        audience, conversion, value, BidConfig(min_multiplier=0.5, max_multiplier=2.0)
    )
    overall = (conversion * value).mean()
    assert bids.loc["hot", "raw_multiplier"] == pytest.approx(45.0 / overall)
    assert bids.loc["hot", "multiplier"] == 2.0 and "capped" in bids.loc["hot", "explanation"]
    assert bids.loc["cold", "multiplier"] == 0.5 and "floored" in bids.loc["cold", "explanation"]
    assert bids.loc["tiny", "multiplier"] == 1.0 and "fewer than" in bids.loc["tiny", "explanation"]
    assert bids.loc["warm", "multiplier"] == pytest.approx(round(15.0 / overall, 2))
    out = io.StringIO()
    assert write_bids_csv(out, bids) == 4
    assert out.getvalue().splitlines()[0] == "audience,multiplier,customers,explanation"
    with pytest.raises(ValueError, match="exceed"):
        BidConfig(min_multiplier=3, max_multiplier=2)


def test_export_hashes_normalised_emails_and_respects_consent() -> None:
    assert hash_email("  Ada@Example.COM ") == hashlib.sha256(b"ada@example.com").hexdigest()
    scores = pd.Series({"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6, "e": 0.5})
    emails = pd.Series({"a": "A@x.com", "b": "b@x.com", "c": "c@x.com", "e": " "})
    no_sale = {"b"}
    rows = audience_rows(scores, emails, lambda profile: profile not in no_sale, top_n=5)
    assert rows["hashed_email"].tolist() == [hash_email("a@x.com"), hash_email("c@x.com")]
    assert rows["score"].tolist() == [0.9, 0.7]
    out = io.StringIO()
    assert write_audience_csv(out, scores, emails, lambda _: True, top_n=1) == 1
    text = out.getvalue()
    assert "a@x.com" not in text.lower() and hash_email("a@x.com") in text


def test_segment_sizes_rows_for_the_history() -> None:
    when = pd.Timestamp("2025-03-01", tz="UTC")
    rows = segment_sizes(pd.Series(["a", "b", "a"], index=["p1", "p2", "p3"]), when)
    assert rows.to_dict("records") == [
        {"as_of": when, "segment": "a", "customers": 2},
        {"as_of": when, "segment": "b", "customers": 1},
    ]
