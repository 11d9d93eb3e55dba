"""Ablation of the production pipeline on an Amazon dataset, in the harness's own protocol.

Each variant is a ``ShopwiseConfig`` as JSON; the script fits it on the leave-one-out training
data (every user's last item held out), ranks the test queries with the harness and prints one
JSON line per variant. ``docs/models.md`` lists the variants behind its ablation table.

Run: ``.venv/bin/python benchmarks/ablation.py beauty '{}' '{"content": null}' ...``
(needs ``SHOPWISE_DATASETS_DIR``, default ``../shared/datasets``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from shopwise.evaluate import (
    CUTOFFS,
    accuracy_metrics,
    leave_one_out,
    rank_queries,
    read_attributes,
    read_sequences,
)
from shopwise.recommend.pipeline import ShopwiseConfig, ShopwiseRecommender


def main(dataset: str, variants: list[str]) -> None:
    root = Path(os.environ.get("SHOPWISE_DATASETS_DIR", "../shared/datasets"))
    folder = root / f"amazon-{dataset}"
    sequences = read_sequences(folder / "sequences.txt")
    n_items = int(max(int(s.max()) for s in sequences) + 1)
    content = read_attributes(folder / "item_attributes.json", n_items)
    _, test = leave_one_out(sequences, n_items, content)
    for variant in variants:
        model = ShopwiseRecommender(ShopwiseConfig.model_validate(json.loads(variant)))
        started = time.perf_counter()
        model.fit(test.train)
        fit_seconds = time.perf_counter() - started
        ranked = rank_queries(model, test.queries, batch_size=512)
        metrics = accuracy_metrics(ranked.ranks, CUTOFFS)
        row = {
            "dataset": dataset,
            "variant": json.loads(variant),
            "NDCG@10": round(metrics["NDCG@10"], 4),
            "HR@10": round(metrics["HR@10"], 4),
            "NDCG@20": round(metrics["NDCG@20"], 4),
            "fit_s": round(fit_seconds),
            "score_s": round(ranked.seconds),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: ablation.py DATASET CONFIG_JSON [CONFIG_JSON ...]")
    main(sys.argv[1], sys.argv[2:])
