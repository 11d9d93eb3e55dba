"""Pipeline variants on a seeded sample of Diginetica test prefixes (docs/models.md).

Uses the harness's session split and ranking code; each variant is ``transition`` or a
``ShopwiseConfig`` as JSON (``{}`` is the default pipeline). Prints P@20 / MRR@20 per variant.

Run: ``.venv/bin/python benchmarks/sessions_sample.py 5000 '{}' '{"sknn": {}}'``
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from shopwise.evaluate import (
    CUTOFFS,
    Queries,
    accuracy_metrics,
    rank_queries,
    read_session_tests,
    read_sessions,
    session_items,
    session_splits,
)
from shopwise.recommend.candidates import Recommender
from shopwise.recommend.candidates.transition import TransitionRecommender
from shopwise.recommend.pipeline import ShopwiseConfig, ShopwiseRecommender


def _model(variant: str) -> Recommender:
    if variant == "transition":
        return TransitionRecommender()
    return ShopwiseRecommender(ShopwiseConfig.model_validate(json.loads(variant)))


def _candidate_recall(model: Recommender, queries: Queries) -> float:
    """Share of targets that get a finite score (are among the pipeline's candidates)."""
    hits = 0
    for start in range(0, len(queries), 512):
        scores = model.score(queries.histories[start : start + 512])
        targets = np.concatenate(queries.targets[start : start + 512])
        hits += int(np.isfinite(scores[np.arange(len(scores)), targets]).sum())
    return hits / len(queries)


def main(sample: int, variants: list[str]) -> None:
    root = Path(os.environ.get("SHOPWISE_DATASETS_DIR", "../shared/datasets"))
    folder = root / "diginetica-sessions"
    sessions = read_sessions(folder / "train_sessions.txt")
    examples = read_session_tests(folder / "test_prefixes.tsv")
    n_items = session_items(sessions, examples)
    _, test = session_splits(sessions, examples, n_items, np.random.default_rng(0))
    picked = np.random.default_rng(1).choice(
        len(test.queries), min(sample, len(test.queries)), False
    )
    queries = test.queries.subset(np.sort(picked).tolist())
    for variant in variants:
        model = _model(variant)
        started = time.perf_counter()
        model.fit(test.train)
        fit_seconds = time.perf_counter() - started
        metrics = accuracy_metrics(rank_queries(model, queries, batch_size=512).ranks, CUTOFFS)
        row = {
            "variant": variant,
            "P@20": round(100 * metrics["HR@20"], 2),
            "MRR@20": round(100 * metrics["MRR@20"], 2),
            "candidate_recall": round(100 * _candidate_recall(model, queries), 2),
            "fit_s": round(fit_seconds),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: sessions_sample.py SAMPLE VARIANT [VARIANT ...]")
    main(int(sys.argv[1]), sys.argv[2:])
