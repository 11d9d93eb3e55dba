"""Lookalike scoring: how much each customer resembles a seed audience.

The seed (for example the top 10% by predicted CLV) and everyone else are placed in the same scaled
feature space as the segments. A customer's score is the mean cosine similarity to their ``k``
nearest seed members, mapped to 0..1, so a customer close to a dense part of the seed ranks high
even when the seed holds several distinct kinds of customer.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.neighbors import NearestNeighbors

from shopwise.customers.segments._cluster import SEGMENT_FEATURES, fit_scaling


class LookalikeConfig(BaseModel):
    """Settings of lookalike scoring."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: tuple[str, ...] = SEGMENT_FEATURES
    """Feature columns compared."""
    neighbours: int = Field(default=10, ge=1)
    """Number of nearest seed members averaged."""


def lookalike_scores(
    frame: pd.DataFrame, seed: Collection[str], config: LookalikeConfig | None = None
) -> pd.Series:
    """Similarity of every non-seed customer to the seed audience, best first.

    Parameters
    ----------
    frame
        Customer features indexed by profile id (seed members included).
    seed
        Profile ids of the seed audience.
    config
        Scoring settings.

    Returns
    -------
    pandas.Series
        Scores in 0..1 for the profiles of ``frame`` outside the seed, sorted descending.
    """
    cfg = config or LookalikeConfig()
    in_seed = frame.index.isin(list(seed))
    if not in_seed.any():
        raise ValueError("the seed audience has no member in the frame")
    matrix = fit_scaling(frame, cfg.features).transform(frame)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = matrix / np.where(norms == 0, 1.0, norms)
    k = min(cfg.neighbours, int(in_seed.sum()))
    index = NearestNeighbors(n_neighbors=k, metric="cosine").fit(unit[in_seed])
    distances, _ = index.kneighbors(unit[~in_seed])
    similarity = 1.0 - distances.mean(axis=1)
    scores = pd.Series((similarity + 1.0) / 2.0, index=frame.index[~in_seed], name="lookalike")
    return scores.sort_values(ascending=False)
