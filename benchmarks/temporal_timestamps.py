"""Pipeline variants on the UCI Online Retail temporal split, with and without timestamps.

The harness's temporal split (``shopwise.evaluate.temporal_splits``) hands the models item
sequences without their timestamps. This script rebuilds the same split, optionally attaches each
training interaction's timestamp (what the event store gives the pipeline in production), fits each
variant and prints NDCG@10 / HR@10 on the split's own queries, one JSON line per variant.

Run: ``.venv/bin/python benchmarks/temporal_timestamps.py test '{}' '{"ease": {}}'``
(``valid``, ``test`` or ``both``; add ``--no-timestamps`` to run as the harness does today).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from shopwise.evaluate import CUTOFFS, accuracy_metrics, rank_queries
from shopwise.evaluate._datasets import EventLog, read_events
from shopwise.evaluate._splits import TemporalSplit, default_cutoff, temporal_splits
from shopwise.models.candidates import InteractionData
from shopwise.models.pipeline import ShopwiseConfig, ShopwiseRecommender
from shopwise.schema import Columns


def _with_timestamps(log: EventLog, split: TemporalSplit) -> InteractionData:
    """The split's training data with the unix time of every interaction attached."""
    events = log.events[log.events[Columns.TIME] < split.cutoff]
    items: list[np.ndarray] = []
    times: list[np.ndarray] = []
    for _, frame in events.groupby(Columns.USER, sort=False):
        items.append(frame[Columns.ITEM].to_numpy(dtype=np.int64))
        stamps = frame[Columns.TIME].to_numpy(dtype="datetime64[s]")
        times.append(stamps.astype(np.int64))
    train = split.split.train
    pairs = zip(items, train.sequences, strict=True)
    if not all(np.array_equal(a, b) for a, b in pairs):
        raise RuntimeError("the rebuilt sequences differ from the harness's split")
    return InteractionData(train.sequences, train.n_items, timestamps=times, content=train.content)


def main(which: str, variants: list[str], timestamps: bool) -> None:
    root = Path(os.environ.get("SHOPWISE_DATASETS_DIR", "../shared/datasets"))
    log = read_events(root / "uci-online-retail" / "online_retail.parquet")
    valid, test = temporal_splits(log, default_cutoff(log))
    splits = {"valid": valid, "test": test}
    names = list(splits) if which == "both" else [which]
    for variant in variants:
        for name in names:
            split = splits[name]
            data = _with_timestamps(log, split) if timestamps else split.split.train
            model = ShopwiseRecommender(ShopwiseConfig.model_validate(json.loads(variant)))
            started = time.perf_counter()
            model.fit(data)
            fit_seconds = time.perf_counter() - started
            ranked = rank_queries(model, split.split.queries, batch_size=512)
            metrics = accuracy_metrics(ranked.ranks, CUTOFFS)
            row = {
                "split": name,
                "variant": json.loads(variant),
                "timestamps": timestamps,
                "scheme": model.scheme,
                "NDCG@10": round(metrics["NDCG@10"], 4),
                "HR@10": round(metrics["HR@10"], 4),
                "fit_s": round(fit_seconds, 1),
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--no-timestamps"]
    if len(args) < 2 or args[0] not in ("valid", "test", "both"):
        sys.exit("usage: temporal_timestamps.py valid|test|both CONFIG_JSON ... [--no-timestamps]")
    main(args[0], args[1:], "--no-timestamps" not in sys.argv)
