"""Score distributions: the champion's best score per profile, and the stored customer scores.

The recommender's score drift is read on the champion itself: for a seeded sample of the profiles
active in each window, the champion scores the profile's products of that window (its last
:data:`HISTORY`, as the candidate refresh does) and the best score of an item not already seen is
kept. A model meeting shoppers unlike those it learned from scores them differently.

Customer-model scores are stored for the present only (``customer_scores``, replaced on refresh),
so their reference is a baseline: the quantiles of each score stored when its model version was
first seen by a drift check, kept under the drift folder (values only, no profile). A later check
compares the stored scores of the same version against it; a new version replaces the baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import orjson
import sqlalchemy as sa

from shopwise.files import private_dir, write_private
from shopwise.privacy import ConsentPolicy
from shopwise.recommend import RecommenderArtifact, top_n
from shopwise.schema import Purpose
from shopwise.store import customer_scores

HISTORY: Final = 50
"""The latest products of a profile the champion scores (the candidate refresh's history)."""
BATCH: Final = 256
"""Profiles scored at once."""
BASELINE_QUANTILES: Final = 1001
"""Quantiles of a customer score kept as its baseline sample (the reference's values)."""


def sample_profiles(
    products: dict[str, list[tuple[int, str]]], limit: int, rng: np.random.Generator
) -> list[str]:
    """Up to ``limit`` of the profiles with products, drawn with ``rng`` (sorted first, so a seed
    always draws the same profiles from the same store)."""
    profiles = sorted(p for p, rows in products.items() if rows)
    if len(profiles) <= limit:
        return profiles
    chosen = rng.choice(len(profiles), size=limit, replace=False)
    return [profiles[int(i)] for i in sorted(chosen)]


def top_scores(
    artifact: RecommenderArtifact,
    products: dict[str, list[tuple[int, str]]],
    profiles: list[str],
) -> list[float]:
    """The champion's best score of an unseen item for each of ``profiles`` (their histories
    from ``products``); profiles whose products the champion does not know are left out."""
    encoded = []
    for profile in profiles:
        history = [pid for _ts, pid in sorted(products[profile])][-HISTORY:]
        known = artifact.items.encode(history)
        if len(known):
            encoded.append(known)
    best: list[float] = []
    for start in range(0, len(encoded), BATCH):
        chunk = encoded[start : start + BATCH]
        for seen, row in zip(chunk, artifact.model.score(chunk), strict=True):
            _items, values = top_n(np.asarray(row), 1, seen)
            if len(values):
                best.append(float(values[0]))
    return best


def stored_customer_scores(
    engine: sa.Engine, policy: ConsentPolicy
) -> dict[str, tuple[str, list[float]]]:
    """Each stored customer score's values and model version, for profiles that allow
    personalization (the purpose the scores are kept for): ``{name: (version, values)}``."""
    allowed = policy.allowed_profiles(engine, Purpose.PERSONALIZATION)
    query = sa.select(
        customer_scores.c.profile_id,
        customer_scores.c.name,
        customer_scores.c.value,
        customer_scores.c.model_version,
    )
    found: dict[str, tuple[str, list[float]]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            if not allowed(row.profile_id):
                continue
            version, values = found.setdefault(row.name, (row.model_version, []))
            if row.model_version == version:
                values.append(float(row.value))
    return dict(found)


def _baseline_path(folder: Path, name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return folder / f"customer-{safe}.json"


def customer_baseline(
    folder: Path, name: str, version: str, values: list[float]
) -> tuple[list[float], bool]:
    """The baseline sample of customer score ``name`` at model ``version`` and whether it was
    just written from ``values`` (no baseline yet, or one of another version)."""
    path = _baseline_path(folder, name)
    if path.is_file():
        stored = orjson.loads(path.read_bytes())
        if stored.get("model_version") == version:
            return [float(v) for v in stored["quantiles"]], False
    quantiles = np.quantile(np.asarray(values, float), np.linspace(0, 1, BASELINE_QUANTILES))
    sample = [float(v) for v in quantiles] if len(values) > BASELINE_QUANTILES else values
    private_dir(folder)
    write_private(
        path,
        orjson.dumps(
            {"name": name, "model_version": version, "n": len(values), "quantiles": sample}
        ),
    )
    return sample, True
