"""Scoring every profile with the customer-model champions, at the store's latest event."""

from __future__ import annotations

import pandas as pd

from shopwise.customers._artifacts import SEGMENT, clv_scores, memberships_frame
from shopwise.customers._champions import CustomerModels
from shopwise.errors import NotEnoughData
from shopwise.features import StoreFrames, customer_features
from shopwise.schema import Columns


def span(frames: StoreFrames) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and the latest event or order time of the frames."""
    latest = frames.latest
    if latest is None:
        raise NotEnoughData("no consented events in the store to train on")
    parts = [f[Columns.TIME].min() for f in (frames.events, frames.orders) if len(f)]
    return min(parts), latest


def score_profiles(
    models: CustomerModels, frames: StoreFrames
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and memberships of every profile of ``frames`` at their latest event.

    Returns
    -------
    tuple
        ``(scores, members)``: scores has one column per score (missing where a model does not
        apply) and ``as_of`` / model versions in ``attrs``; members has columns profile,
        ``kind``, ``segment``.
    """
    _, last = span(frames)
    features = customer_features(frames.events, frames.orders, last)
    scores = pd.DataFrame(index=features.index)
    versions: dict[str, str] = {}
    found = models.champion("propensity")
    if found is not None:
        versions["propensity"], artifact = found
        for name, model in artifact.models.items():
            scores[name] = model.score(features)
    found = models.champion("clv")
    if found is not None:
        versions["clv"], artifact = found
        scores = scores.join(clv_scores(artifact, frames.orders, last, features))
    members = pd.DataFrame(columns=[Columns.PROFILE, "kind", SEGMENT])
    found = models.champion("segments")
    if found is not None:
        versions["segments"], artifact = found
        members = memberships_frame(artifact, features)
    scores.attrs.update(as_of=last, versions=versions)
    return scores, members
