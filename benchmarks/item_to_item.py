"""Item-to-item benchmark: the product page's similar and complementary answers beside peers.

Two tasks from :mod:`shopwise.evaluate` (see ``_item_to_item.py`` for the protocols):

* ``complementary``: basket completion on UCI Online Retail (last tenth of the selling days
  are test; one product of each test invoice hidden, the others are the query). Peers:
  co-occurrence counts, association rules by lift, item-kNN (cosine), EASE.
* ``similar``: the last item before the target as the only query, on Amazon Beauty and Toys
  (next-item leave-one-out) and Diginetica (SR-GNN test prefixes). Peers: item-kNN,
  transition, content (attributes, Amazon only), co-occurrence.

Both also run shopwise's served method, fitted on what the event store holds: for
complementary the EASE neighbours a training run keeps (``fit_complements``), for similar the
pipeline's first transition generator read in both directions (``similar_neighbours``); alone
(``shopwise_served_model``) and in serving's own order (``ServedNeighbours``, which calls
``shopwise.recommend.rank_related``, the function serving ranks with). Writes
``benchmarks/results/item_to_item.json`` and the "Item-to-item" section of ``docs/benchmarks.md``.

Usage: ``python benchmarks/item_to_item.py [--task similar|complementary|all]
[--only beauty,toys,diginetica,uci] [--max-queries N] [--markdown-only]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from shopwise.evaluate import (
    CooccurrenceNeighbours,
    ItemTask,
    LiftNeighbours,
    Neighbours,
    ServedNeighbours,
    basket_task,
    category_codes,
    category_paths,
    evaluate_neighbours,
    read_attributes,
    read_invoices,
    read_sequences,
    read_session_tests,
    read_sessions,
    similar_from_sequences,
    similar_from_sessions,
)
from shopwise.recommend import similar_neighbours
from shopwise.recommend.candidates import FloatArray, IntArray, InteractionData
from shopwise.recommend.candidates.content import ContentConfig, ContentRecommender
from shopwise.recommend.candidates.knn import ItemKNNConfig, ItemKNNRecommender
from shopwise.recommend.candidates.linear import EASEConfig, EASERecommender
from shopwise.recommend.candidates.transition import TransitionConfig, TransitionRecommender
from shopwise.recommend.pipeline import ShopwiseConfig
from shopwise.recommend.training import fit_complements

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import ITEM_TO_ITEM, machine

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "item_to_item.json"
DOC = REPO / "docs" / "benchmarks.md"
SECTION = ITEM_TO_ITEM
GOAL = 1.10
"""The goal: shopwise's served method at this multiple of the best peer on each metric."""

Build = Callable[[InteractionData], Neighbours]


def _fitted(model: Any) -> Build:
    def build(data: InteractionData) -> Neighbours:
        model.fit(data)
        fitted: Neighbours = model
        return fitted

    return build


def _served_model() -> TransitionRecommender:
    """The generator ``ShopwiseRecommender.similar_items`` asks: the first transition one."""
    name, config = next(iter(ShopwiseConfig().transitions.items()))
    return TransitionRecommender(config, name=name)


Source = Callable[[int, int], tuple[IntArray, FloatArray]]


class _Source:
    """A neighbour source as a :class:`Neighbours`."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        return self.source(item, n)


def _served_source(data: InteractionData, complementary: bool) -> Source:
    """What serving asks for the route's neighbours, trained as a training run trains it."""
    if complementary:
        complements, _note = fit_complements(data)
        if complements is not None:
            return complements.similar_items
    model = _served_model()
    model.fit(data)
    if complementary:
        return model.similar_items
    return lambda item, n: similar_neighbours(model, item, n)


def _served(task: ItemTask, complementary: bool, ruled: bool) -> Build:
    n_items = task.train.n_items
    paths = category_paths(task.top_categories, task.leaf_categories, n_items)

    def build(data: InteractionData) -> Neighbours:
        source = _served_source(data, complementary)
        if not ruled:
            return _Source(source)
        return ServedNeighbours(source, paths, complementary)

    return build


def methods(task: ItemTask, complementary: bool) -> list[tuple[str, Build, bool]]:
    """``(name, build, fit on served_train)`` of every method run on ``task``."""
    peers: list[tuple[str, Build, bool]] = [
        ("cooccurrence", _fitted(CooccurrenceNeighbours()), False),
        ("itemknn", _fitted(ItemKNNRecommender(ItemKNNConfig())), False),
    ]
    if complementary:
        peers.insert(1, ("lift", _fitted(LiftNeighbours()), False))
        peers.append(("ease", _fitted(EASERecommender(EASEConfig(l2=50.0))), False))
    else:
        # both directions: the classic "viewed together" co-visitation
        both = TransitionRecommender(TransitionConfig(backward_weight=1.0), name="both")
        peers.append(("transition_both_ways", _fitted(both), False))
        if task.train.content is not None:
            peers.append(("content", _fitted(ContentRecommender(ContentConfig())), False))
    # the transition generator as served before (following items only), on the store's data
    peers.append(("transition_forward", _fitted(_served_model()), True))
    route = "complementary" if complementary else "similar"
    return [
        *peers,
        ("shopwise_served_model", _served(task, complementary, ruled=False), True),
        (f"shopwise_served_{route}", _served(task, complementary, ruled=True), True),
    ]


def _subsample(task: ItemTask, limit: int, seed: int) -> ItemTask:
    if len(task.queries) <= limit:
        return task
    rows = np.sort(np.random.default_rng(seed).choice(len(task.queries), limit, replace=False))
    return replace(task, queries=task.queries.subset(rows.tolist()))


def load_task(key: str, root: Path, seed: int) -> tuple[ItemTask, dict[str, Any]]:
    """The task of one data set and what describes it in the results."""
    if key in ("beauty", "toys"):
        folder = root / ("amazon-beauty" if key == "beauty" else "amazon-toys")
        sequences = read_sequences(folder / "sequences.txt")
        n_items = int(max(int(s.max()) for s in sequences) + 1)
        content = read_attributes(folder / "item_attributes.json", n_items)
        top, leaf = category_codes(content.categories)
        task = similar_from_sequences(sequences, n_items, content)
        task = replace(task, top_categories=top, leaf_categories=leaf)
        return task, {"task": "similar", "categories": int(top.max() + 1)}
    if key == "diginetica":
        folder = root / "diginetica-sessions"
        sessions = read_sessions(folder / "train_sessions.txt")
        tests = read_session_tests(folder / "test_prefixes.tsv")
        n_items = int(
            max(
                max(int(s.max()) for s in sessions),
                int(tests.targets.max()),
                max(int(p.max()) for p in tests.prefixes),
            )
            + 1
        )
        return similar_from_sessions(sessions, tests, n_items), {"task": "similar"}
    lines, n_items = read_invoices(root / "uci-online-retail" / "online_retail.parquet")
    task, cutoff = basket_task(lines, n_items, np.random.default_rng(seed))
    return task, {"task": "complementary", "test_from": str(cutoff.date())}


def run_dataset(key: str, root: Path, seed: int, max_queries: int) -> dict[str, Any]:
    """Every method on one data set."""
    task, info = load_task(key, root, seed)
    total = len(task.queries)
    task = _subsample(task, max_queries, seed)
    section: dict[str, Any] = {
        **info,
        "queries": len(task.queries),
        "queries_before_sampling": total,
        "dropped": task.dropped,
        "n_items": task.train.n_items,
        "machine": machine(),
        "runs": [],
    }
    for name, build, served in methods(task, info["task"] == "complementary"):
        row = evaluate_neighbours(name, build, task, served=served)
        section["runs"].append(row)
        shown = {k: v if v is None else round(v, 4) for k, v in row["metrics"].items()}
        print(f"[item_to_item] {key} {name}: {shown} ({row['answer_seconds']} s)", flush=True)
    return section


METRICS = ("HR@10", "NDCG@10", "coverage@10", "category_share@10", "answered")
TITLES = {
    "uci": "UCI Online Retail, complementary (basket completion)",
    "beauty": "Amazon Beauty, similar (item-to-item next item)",
    "toys": "Amazon Toys, similar (item-to-item next item)",
    "diginetica": "Diginetica, similar (item-to-item next click)",
}
SERVED = ("shopwise_served_model", "shopwise_served_similar", "shopwise_served_complementary")


def _cell(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _ratios(runs: dict[str, dict[str, Any]], served: str) -> str:
    peers = {name: m for name, m in runs.items() if name not in SERVED}
    parts = []
    for metric in ("HR@10", "NDCG@10", "coverage@10", "category_share@10"):
        if runs[served].get(metric) is None:
            continue
        best_name, best = max(peers.items(), key=lambda kv: kv[1][metric] or 0.0)
        ratio = runs[served][metric] / best[metric] if best[metric] else float("inf")
        state = "meets" if ratio >= GOAL else "misses"
        parts.append(f"{metric} {ratio:.2f}x {best_name} ({state})")
    return f"`{served}`: " + "; ".join(parts)


def _verdict(section: dict[str, Any]) -> str:
    runs = {row["model"]: row["metrics"] for row in section["runs"]}
    served = [name for name in SERVED if name in runs]
    winner = max(runs.items(), key=lambda kv: kv[1]["NDCG@10"])[0]
    lines = [f"Against the best peer on each metric (goal {GOAL:.2f}x):"]
    lines += [f"- {_ratios(runs, name)}." for name in served]
    lines.append(f"- Best HR@10 and NDCG@10 here: **{winner}**.")
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """The item-to-item section of ``docs/benchmarks.md``."""
    mach = report["machine"]
    out = [
        SECTION,
        "",
        f"Generated by `{report['command']}` (raw results: "
        "`benchmarks/results/item_to_item.json`) on "
        f"{mach['cpu']}, {mach['cores']} cores, {mach['memory_gb']} GB RAM, shared with other "
        "work. Protocols: `src/shopwise/evaluate/_item_to_item.py`. Goal: shopwise's served "
        f"answer at {GOAL:.2f}x the best peer on each metric.",
        "",
        "A query's answer sums the scores of each query product's 100 best neighbours (the "
        "candidate count serving asks for), drops the query products and keeps 10. "
        "*Complementary*: invoices of the last tenth of the selling days are test; one product "
        "of each invoice with two or more distinct products is hidden (seeded draw), the others "
        "are the query; peers learn from the training invoices. *Similar*: the last item before "
        "the target is the only query (Amazon: train on all but each user's last item; "
        "Diginetica: the SR-GNN test prefixes); examples whose target is the query product are "
        "dropped. `shopwise_served_model` is the neighbour source serving asks, fitted on "
        "each customer's sequence as the event store holds it: for complementary the EASE "
        "neighbours a training run keeps (`recommend.training.fit_complements`, 100 per item; "
        "the transition generator when the catalog is over EASE's item limit), for similar the "
        "pipeline's first transition generator read in both directions "
        "(`recommend.similar_neighbours`, predecessors at `SIMILAR_BACKWARD`). "
        "`shopwise_served_similar` / `_complementary` put those neighbours in serving's order "
        "with `recommend.rank_related`, the function `serving/_service.py` `_related` calls: "
        "/similar reorders (deepest shared category first: same leaf, then same department, "
        "then the rest) and drops only neighbours without evidence, /complementary keeps other "
        "leaf categories (serving's category-walk fill after them is not measured). "
        "`transition_forward` is the transition generator alone, following items only (the "
        "served similar source before issue 23, part 4); `transition_both_ways` counts "
        "follow-ups in both directions at full weight. "
        "Category share: share of answered items in the query product's top-level category "
        "(Amazon attribute lists: brands only ever come first, so the first attribute ever seen "
        "later is the top category, the last the leaf; a root shared by most items, as in "
        "Toys, is skipped); UCI and Diginetica have no categories (n/a). "
        "answered: share of queries with any answer.",
    ]
    for key, section in report["datasets"].items():
        sampled = (
            f", sampled from {section['queries_before_sampling']} with seed {report['seed']}"
            if section["queries"] < section["queries_before_sampling"]
            else ""
        )
        out += [
            "",
            f"### {TITLES[key]}",
            "",
            f"{section['queries']} queries{sampled}; dropped: "
            + ", ".join(f"{k} {v}" for k, v in section["dropped"].items())
            + f"; catalog {section['n_items']} items"
            + (f"; test from {section['test_from']}" if "test_from" in section else "")
            + ".",
            "",
            "| method | " + " | ".join(METRICS) + " | fit s | answer s |",
            "|---|" + "---|" * (len(METRICS) + 2),
        ]
        for row in section["runs"]:
            m = row["metrics"]
            out.append(
                f"| {row['model']} | "
                + " | ".join(_cell(m.get(k)) for k in METRICS)
                + f" | {row['fit_seconds']:.1f} | {row['answer_seconds']:.1f} |"
            )
        out += ["", _verdict(section)]
    return "\n".join(out) + "\n"


def write_doc(doc: Path, section: str) -> None:
    """Replace (or append) the item-to-item section of ``doc``, leaving the rest alone."""
    text = doc.read_text(encoding="utf-8") if doc.is_file() else ""
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + ("" if nxt < 0 else text[nxt:])
    doc.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the tasks, then write the JSON results and the markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dir = os.environ.get("SHOPWISE_DATASETS_DIR", str(REPO.parent / "shared" / "datasets"))
    parser.add_argument("--datasets-dir", type=Path, default=Path(default_dir))
    parser.add_argument("--task", choices=("similar", "complementary", "all"), default="all")
    parser.add_argument("--only", default="uci,beauty,toys,diginetica")
    parser.add_argument("--max-queries", type=int, default=100_000, help="seeded sample above this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--markdown-only", action="store_true")
    args = parser.parse_args(argv)
    if args.markdown_only:
        saved = json.loads(args.json.read_text(encoding="utf-8"))
        write_doc(args.doc, markdown(saved))
        return 0
    wanted = {"similar": ("beauty", "toys", "diginetica"), "complementary": ("uci",)}
    keys = [k for k in args.only.split(",") if args.task == "all" or k in wanted[args.task]]
    previous = json.loads(args.json.read_text(encoding="utf-8")) if args.json.is_file() else {}
    started = time.perf_counter()
    datasets = dict(previous.get("datasets", {}))
    for key in keys:
        datasets[key] = run_dataset(key, args.datasets_dir, args.seed, args.max_queries)
    order = ["uci", "beauty", "toys", "diginetica"]
    report = {
        "machine": machine(),
        "command": "nice -n 10 python benchmarks/item_to_item.py",
        "seed": args.seed,
        "max_queries": args.max_queries,
        "datasets": {k: datasets[k] for k in order if k in datasets},
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    write_doc(args.doc, markdown(report))
    print(f"[item_to_item] wrote {args.json} and {args.doc} in {report['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
