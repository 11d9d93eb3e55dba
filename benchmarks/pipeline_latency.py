"""Single-history scoring latency of the full pipeline (the table in docs/models.md).

Fits ``ShopwiseRecommender`` on Amazon Toys (leave-one-out training data) and times
``score([history])`` for 300 test histories one at a time (the first 20 are warm-up), then the
LightGBM ranker alone on one history's candidates. Serving does not pay this per request: the
worker precomputes each shopper's list (docs/decisions.md).

Run: ``.venv/bin/python benchmarks/pipeline_latency.py`` (needs ``SHOPWISE_DATASETS_DIR``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from shopwise.evaluate import leave_one_out, read_attributes, read_sequences
from shopwise.recommend.pipeline import ShopwiseRecommender
from shopwise.recommend.ranking import build_candidates


def main() -> None:
    root = Path(os.environ.get("SHOPWISE_DATASETS_DIR", "../shared/datasets"))
    folder = root / "amazon-toys"
    sequences = read_sequences(folder / "sequences.txt")
    n_items = int(max(int(s.max()) for s in sequences) + 1)
    _, test = leave_one_out(
        sequences, n_items, read_attributes(folder / "item_attributes.json", n_items)
    )
    model = ShopwiseRecommender()
    started = time.perf_counter()
    model.fit(test.train)
    print(f"fit {time.perf_counter() - started:.0f} s", flush=True)
    histories = test.queries.histories[:300]
    times, candidates = [], []
    for history in histories:
        started = time.perf_counter()
        scores = model.score([history])
        times.append(time.perf_counter() - started)
        candidates.append(int(np.isfinite(scores).sum()))
    ms = np.asarray(times[20:]) * 1000
    print(
        f"score one history: median {np.median(ms):.1f} ms, p90 {np.percentile(ms, 90):.1f} ms, "
        f"candidates median {np.median(candidates):.0f}"
    )
    ranker = []
    for history in histories[20:120]:
        batch = model._candidates([history])
        started = time.perf_counter()
        model.ranker.predict(batch.features)
        ranker.append(time.perf_counter() - started)
    print(f"ranker alone: median {np.median(ranker) * 1000:.2f} ms")
    _parts(model, histories[20:120])


def _parts(model: ShopwiseRecommender, histories: list[np.ndarray]) -> None:
    """Median time of each generator's ``score`` and of the candidate features, one history."""
    stats = model.stats
    assert stats is not None
    parts: dict[str, list[float]] = {g.name: [] for g in model.active}
    parts["build_candidates"] = []
    for history in histories:
        scores = {}
        for generator in model.active:
            started = time.perf_counter()
            scores[generator.name] = generator.score([history])
            parts[generator.name].append(time.perf_counter() - started)
        started = time.perf_counter()
        build_candidates([history], scores, stats, model.config.candidates)
        parts["build_candidates"].append(time.perf_counter() - started)
    for name, seconds in parts.items():
        print(f"{name}: median {np.median(seconds) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
