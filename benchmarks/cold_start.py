"""Cold start on UCI Online Retail: the content model against popularity and fairer baselines.

The temporal protocol of the harness (``shopwise evaluate temporal``, default cutoff: the day by
which 80% of the sales had happened) gives the cold-start queries: users with history before the
cutoff who bought, after it, a product first sold after it. Each query is ranked twice:

* ``full``: against every catalog item (the harness's ``cold_start`` block): can the model
  surface a new product at all? Popularity gives every never-sold item 0, by construction.
* ``new``: against the new products only, everything sold before the cutoff masked (the
  harness's ``cold_start_new_items`` block): which new arrival does this user want?

The harness breaks score ties by item index, which for this file is first-sale order, a date
from after the cutoff. A model that cannot tell new items apart (popularity) is then ranked by
that date: a leak in its favour. So the ``new`` block is also reported with ties broken by a
random item order (mean of ``--seeds`` orders); there, constant scores are a random ranking.

Baselines: ``popular`` (distinct buyers), ``popular_category`` (share of the user's recent items
in the item's category, then category popularity; categories come from the catalog import's
keyword rules, :func:`shopwise.collect.adapters.uci.keyword_category`). Content models:
``content`` (TF-IDF over titles), ``content_minilm`` (packaged all-MiniLM-L6-v2),
``content_minilm_tuned`` (MiniLM plus a residual linear head trained contrastively on
co-purchase pairs of the training period) and ``content_minilm_full`` (MiniLM weights updated
for a few contrastive steps). Each is fitted on the validation split and on the test split; the
validation numbers are what a choice between them may use. Paired bootstrap intervals (over
users) of NDCG@10 differences say which gaps are more than noise.

Usage::

    .venv/bin/python benchmarks/cold_start.py \\
        --events ../shared/datasets/uci-online-retail/online_retail.parquet
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from shopwise.collect.adapters.uci import keyword_category
from shopwise.evaluate import (
    CUTOFFS,
    EventLog,
    Queries,
    TemporalSplit,
    accuracy_metrics,
    default_cutoff,
    get_spec,
    read_events,
    target_ranks,
    temporal_splits,
)
from shopwise.recommend.candidates import FloatArray, IntArray, InteractionData, Recommender
from shopwise.recommend.candidates.content import (
    ContentConfig,
    ContentRecommender,
    FineTuneConfig,
    _pretrained_vectors,
    item_documents,
    minilm_path,
)

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
DEFAULT_EVENTS = REPO.parent / "shared" / "datasets" / "uci-online-retail" / "online_retail.parquet"
REGISTERED = ("popular", "popular_category", "content", "content_minilm", "content_minilm_tuned")
COMPARISONS = (
    ("content", "popular"),
    ("content", "popular_category"),
    ("content_minilm", "popular_category"),
    ("content", "content_minilm"),
    ("content_minilm_tuned", "content_minilm"),
    ("content_minilm_full", "content_minilm"),
)


@dataclass(frozen=True)
class Case:
    """One model of the table: how to build it and whether it sees keyword categories."""

    name: str
    build: Callable[[], Recommender]
    categories: bool = False


def _registered(name: str) -> Callable[[], Recommender]:
    spec = get_spec(name)
    return lambda: spec.build(spec.grid[0])


def _full_fine_tune() -> Recommender:
    return ContentRecommender(
        ContentConfig(encoder="minilm", fine_tune=FineTuneConfig(mode="full")),
        name="content_minilm_full",
    )


def _cases(names: list[str]) -> list[Case]:
    cases = []
    for name in names:
        if name == "content_minilm_full":
            cases.append(Case(name, _full_fine_tune))
        elif name in REGISTERED:
            cases.append(Case(name, _registered(name), name == "popular_category"))
        else:
            raise SystemExit(f"unknown model {name!r}")
    return cases


def machine() -> dict[str, Any]:
    """CPU model, cores, memory and the load when the run started."""
    model = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(
            (
                v.strip()
                for k, _, v in (x.partition(":") for x in out.splitlines())
                if k == "Model name"
            ),
            model,
        )
    except (OSError, subprocess.SubprocessError):
        pass
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gb": round(pages / 2**30, 1),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def with_keyword_categories(log: EventLog) -> EventLog:
    """The log with each title's keyword category (as the catalog import derives it)."""
    assert log.content is not None
    categories = [
        ["/".join(keyword_category(text))] if keyword_category(text) else []
        for text in log.content.texts
    ]
    return replace(log, content=replace(log.content, categories=categories))


def masked_scores(model: Recommender, queries: Queries) -> FloatArray:
    scores = np.array(model.score(queries.histories), dtype=np.float32)
    assert queries.masks is not None
    for row, mask in enumerate(queries.masks):
        scores[row, mask] = -np.inf
    return scores


def flat_targets(queries: Queries) -> tuple[IntArray, IntArray, list[int]]:
    counts = [len(t) for t in queries.targets]
    rows = np.repeat(np.arange(len(queries)), counts).astype(np.int64)
    return rows, np.concatenate(queries.targets).astype(np.int64), counts


def random_tie_ranks(
    scores: FloatArray, rows: IntArray, items: IntArray, order: IntArray
) -> IntArray:
    """Ranks with ties broken by a random item order (``order[i]``: position of item ``i``)."""
    n_items = scores.shape[1]
    ranks = np.empty(len(rows), dtype=np.int64)
    for j, (row, item) in enumerate(zip(rows, items, strict=True)):
        line = scores[row]
        own = line[item]
        if not np.isfinite(own):
            ranks[j] = n_items
            continue
        ranks[j] = int(np.count_nonzero(line > own)) + int(
            np.count_nonzero((line == own) & (order < order[item]))
        )
    return ranks


def per_query(flat: IntArray, counts: list[int]) -> list[IntArray]:
    return list(np.split(flat, np.cumsum(counts)[:-1]))


def ndcg10_per_query(ranks: list[IntArray]) -> FloatArray:
    return np.asarray([accuracy_metrics([r])["NDCG@10"] for r in ranks], dtype=np.float64)


def summary(metrics: dict[str, float]) -> dict[str, float]:
    keys = [f"HR@{k}" for k in CUTOFFS] + ["NDCG@10", "NDCG@20", "MRR@20"]
    return {k: round(float(metrics[k]), 4) for k in keys}


def evaluate_case(
    case: Case, split: TemporalSplit, categorised: TemporalSplit, seeds: int
) -> dict[str, Any]:
    data: InteractionData = (categorised if case.categories else split).split.train
    model = case.build()
    started = time.perf_counter()
    model.fit(data)
    fit_seconds = time.perf_counter() - started
    score_times = []
    for _ in range(3):
        started = time.perf_counter()
        model.score(split.cold.histories)
        score_times.append(time.perf_counter() - started)
    out: dict[str, Any] = {
        "fit_seconds": round(fit_seconds, 2),
        "score_seconds_median": round(statistics.median(score_times), 3),
        "queries": len(split.cold),
    }
    rows, items, counts = flat_targets(split.cold)
    for block, queries in (("full", split.cold), ("new", split.cold_new_items)):
        scores = masked_scores(model, queries)
        index_ranks = per_query(target_ranks(scores, rows, items), counts)
        out[block] = summary(accuracy_metrics(index_ranks))
        out[f"{block}_ndcg10"] = ndcg10_per_query(index_ranks)
        if block == "new":
            runs = []
            per_user = np.zeros(len(queries))
            for seed in range(seeds):
                order = np.random.default_rng(seed).permutation(scores.shape[1])
                ranks = per_query(random_tie_ranks(scores, rows, items, order), counts)
                runs.append(accuracy_metrics(ranks))
                per_user += ndcg10_per_query(ranks) / seeds
            out["new_random_ties"] = summary(
                {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
            )
            out["new_random_ties_ndcg10"] = per_user
    return out


def paired_bootstrap(a: FloatArray, b: FloatArray, samples: int, seed: int = 0) -> dict[str, Any]:
    """Mean of ``a - b`` over users and its 95% percentile interval."""
    diff = a - b
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(samples, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {
        "mean": round(float(diff.mean()), 4),
        "ci95": [round(float(low), 4), round(float(high), 4)],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    report: dict[str, Any] = {"machine": machine(), "command": args.command_line}
    log = read_events(args.events)
    cutoff = default_cutoff(log)
    valid, test = temporal_splits(log, cutoff)
    valid_c, test_c = temporal_splits(with_keyword_categories(log), cutoff)
    assert log.content is not None
    documents = tuple(item_documents(log.content, attribute_tokens=False))
    report["minilm_encode_seconds"] = None
    if any("minilm" in name for name in args.models):
        _pretrained_vectors.cache_clear()
        encode_started = time.perf_counter()
        _pretrained_vectors(str(minilm_path()), documents, 64)
        report["minilm_encode_seconds"] = round(time.perf_counter() - encode_started, 1)
    report["dataset"] = {
        "events": len(log.events),
        "items": len(log.items),
        "cutoff": str(cutoff.date()),
        "validation_cutoff": str(valid.cutoff.date()),
        "new_items_test": int(
            len(log.items) - len(np.unique(np.concatenate(test.split.train.sequences)))
        ),
        "new_items_valid": int(
            len(log.items) - len(np.unique(np.concatenate(valid.split.train.sequences)))
        ),
        "cold_queries_test": len(test.cold),
        "cold_queries_valid": len(valid.cold),
    }
    results: dict[str, dict[str, Any]] = {"valid": {}, "test": {}}
    for case in _cases(args.models):
        for label, split, categorised in (("valid", valid, valid_c), ("test", test, test_c)):
            results[label][case.name] = evaluate_case(case, split, categorised, args.seeds)
            row = results[label][case.name]
            print(
                f"{label:5s} {case.name:22s} new(random ties) NDCG@10 "
                f"{row['new_random_ties']['NDCG@10']:.4f} full HR@10 {row['full']['HR@10']:.4f} "
                f"fit {row['fit_seconds']:.1f}s",
                flush=True,
            )
    report["comparisons"] = {
        label: {
            f"{a} - {b}": {
                block: paired_bootstrap(
                    runs[a][f"{block}_ndcg10"], runs[b][f"{block}_ndcg10"], args.bootstrap
                )
                for block in ("full", "new_random_ties")
            }
            for a, b in COMPARISONS
            if a in runs and b in runs
        }
        for label, runs in results.items()
    }
    report["results"] = {
        label: {
            name: {k: v for k, v in row.items() if not k.endswith("ndcg10")}
            for name, row in runs.items()
        }
        for label, runs in results.items()
    }
    report["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    return report


def _row(name: str, row: dict[str, Any]) -> str:
    new, rnd, full = row["new"], row["new_random_ties"], row["full"]
    return (
        f"| {name} | {rnd['HR@10']:.4f} | {rnd['NDCG@10']:.4f} | {new['HR@10']:.4f} | "
        f"{new['NDCG@10']:.4f} | {full['HR@10']:.4f} | {full['NDCG@10']:.4f} | "
        f"{full['HR@20']:.4f} | "
        f"{row['fit_seconds']:.2f} | {row['score_seconds_median']:.3f} |"
    )


def markdown(report: dict[str, Any]) -> str:
    m, d = report["machine"], report["dataset"]
    lines = [
        "# Cold start on UCI Online Retail (temporal split)",
        "",
        f"Machine: {m['cpu_model']} ({m['cores']} cores, {m['memory_gb']} GB), "
        f"Python {m['python']}; "
        f"load average at start {m['load_avg_at_start']}, at end {report['load_avg_at_end']} "
        "(shared with other jobs: timings are noisy).",
        f"Command: `{report['command']}` ({report['wall_seconds']} s).",
        f"Data: {d['events']} sales, {d['items']} products; test cutoff {d['cutoff']} "
        f"({d['new_items_test']} products first sold after it, {d['cold_queries_test']} users "
        f"bought one), validation cutoff {d['validation_cutoff']} ({d['new_items_valid']} new "
        f"products, {d['cold_queries_valid']} users).",
        "",
        "Columns: *new* ranks the new products only (everything sold before the cutoff masked), "
        "with ties broken by a random item order (mean of several orders) or by item index "
        "(the harness rule; index = first-sale order, which favours tied scores); *full* ranks "
        "every product (the harness's `cold_start` block). Fit: seconds for one fit (MiniLM "
        f"encoding of the catalog, {report['minilm_encode_seconds']} s, is cached and not "
        "included); score: median of 3 scorings of all cold queries.",
    ]
    for label in ("test", "valid"):
        lines += [
            "",
            f"## {label} split",
            "",
            "| model | new HR@10 (random ties) | new NDCG@10 (random ties) | "
            "new HR@10 (index ties) | new NDCG@10 (index ties) | full HR@10 | full NDCG@10 | "
            "full HR@20 | fit s | score s |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [_row(name, row) for name, row in report["results"][label].items()]
        lines += ["", "NDCG@10 differences, paired bootstrap over users (mean [95% interval]):", ""]
        lines += ["| comparison | new (random ties) | full |", "|---|---|---|"]
        for pair, blocks in report["comparisons"][label].items():
            cells = [
                f"{blocks[b]['mean']:+.4f} "
                f"[{blocks[b]['ci95'][0]:+.4f}, {blocks[b]['ci95'][1]:+.4f}]"
                for b in ("new_random_ties", "full")
            ]
            lines.append(f"| {pair} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, default=DEFAULT_EVENTS)
    parser.add_argument("--models", nargs="+", default=[*REGISTERED, "content_minilm_full"])
    parser.add_argument("--seeds", type=int, default=10, help="random tie orders averaged")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--out", type=Path, default=RESULTS / "cold_start")
    args = parser.parse_args()
    args.command_line = "python benchmarks/cold_start.py " + " ".join(
        f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in (("models", args.models), ("seeds", args.seeds), ("bootstrap", args.bootstrap))
    )
    report = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))


if __name__ == "__main__":
    main()
