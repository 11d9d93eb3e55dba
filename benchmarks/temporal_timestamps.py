"""Pipeline variants on the UCI Online Retail temporal split, with and without timestamps.

Fits each variant (a ``ShopwiseConfig`` as JSON) on the harness's temporal split
(``shopwise.evaluate.temporal_splits``, which gives the models each interaction's timestamp, as
the event store does) and prints NDCG@10 / HR@10 on the split's own queries, one JSON line per
variant and split. ``valid`` is the earlier cutoff the harness validates on; ``--no-timestamps``
drops the timestamps, to show what the ``time`` ranker queries depend on.

Run: ``.venv/bin/python benchmarks/temporal_timestamps.py test '{}' '{"ease": {}}'``
(``valid``, ``test`` or ``both``; add ``--no-timestamps`` to hide the timestamps).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from shopwise.evaluate import CUTOFFS, accuracy_metrics, rank_queries
from shopwise.evaluate._datasets import read_events
from shopwise.evaluate._splits import default_cutoff, temporal_splits
from shopwise.recommend.pipeline import ShopwiseConfig, ShopwiseRecommender


def main(which: str, variants: list[str], timestamps: bool) -> None:
    root = Path(os.environ.get("SHOPWISE_DATASETS_DIR", "../shared/datasets"))
    log = read_events(root / "uci-online-retail" / "online_retail.parquet")
    valid, test = temporal_splits(log, default_cutoff(log))
    splits = {"valid": valid, "test": test}
    names = list(splits) if which == "both" else [which]
    for variant in variants:
        for name in names:
            split = splits[name]
            train = split.split.train
            data = train if timestamps else replace(train, timestamps=None)
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
