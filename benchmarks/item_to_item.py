"""Item-to-item benchmark: the product page's similar and complementary answers beside peers.

Two tasks from :mod:`shopwise.evaluate` (see ``_item_to_item.py`` for the protocols):

* ``complementary``: basket completion on UCI Online Retail (last tenth of the selling days
  are test; one product of each test invoice hidden, the others are the query). Peers:
  co-occurrence counts, association rules by lift, item-kNN (cosine), EASE.
* ``similar``: the last item before the target as the only query, on Amazon Beauty and Toys
  (next-item leave-one-out) and Diginetica (SR-GNN test prefixes). Peers: item-kNN,
  transition, content (attributes, Amazon only), co-occurrence.

Both also run ``related_ranker``, the learned second stage over every neighbour source
(:mod:`shopwise.recommend.related_ranker`), alone and in the category order serving gives
other similar sources. Both run shopwise's served method, fitted on what the event store holds
as a training run fits it: for complementary the EASE neighbours over the customers' orders
(``fit_complements``, its penalties tuned on the latest training orders), for
similar the learned ranker's lists (``fit_similar``); alone (``shopwise_served_model``) and in
serving's own order (``shopwise.recommend.rank_related``, the function serving ranks with:
``ServedNeighbours``, or the learned order for similar). Similar also runs the fallback serving
uses when a training run could not learn the ranker (``shopwise_fallback_similar``: the
pipeline's first transition generator read in both directions, ``similar_neighbours``, in
serving's category order). Writes
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
    session_items,
    similar_from_sequences,
    similar_from_sessions,
)
from shopwise.recommend import rank_related, similar_neighbours
from shopwise.recommend.candidates import FloatArray, IntArray, InteractionData
from shopwise.recommend.candidates.content import ContentConfig, ContentRecommender
from shopwise.recommend.candidates.knn import ItemKNNConfig, ItemKNNRecommender
from shopwise.recommend.candidates.linear import EASEConfig, EASERecommender
from shopwise.recommend.candidates.transition import TransitionConfig, TransitionRecommender
from shopwise.recommend.pipeline import ShopwiseConfig
from shopwise.recommend.related_ranker import RelatedRanker
from shopwise.recommend.training import fit_complements, fit_similar

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
    """What serving asks for the route's neighbours without the learned similar lists,
    trained as a training run trains it (for similar: the transition fallback)."""
    if complementary:
        complements, _note = fit_complements(data)
        if complements is not None:
            return complements.similar_items
    model = _served_model()
    model.fit(data)
    if complementary:
        return model.similar_items
    return lambda item, n: similar_neighbours(model, item, n)


class _LearnedOrder:
    """Serving's order of the learned similar lists: ``rank_related`` with ``learned`` (the
    evidence filter, no category reorder), as ``serving/_service.py`` ``_related`` calls it."""

    def __init__(self, source: Source, pool: int = 100) -> None:
        self.source = source
        self.pool = pool

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        items, scores = self.source(item, self.pool)
        ranked = rank_related(
            items.tolist(), scores.tolist(), (), lambda _item: (), False, learned=True
        )[:n]
        return (
            np.asarray([i for i, _s in ranked], dtype=np.int64),
            np.asarray([s for _i, s in ranked], dtype=np.float32),
        )


class _Served:
    """The route's served source, fitted once per training data as a training run fits it
    (for similar the learned lists of ``fit_similar`` unless ``learned`` is off, and the
    transition generator when they could not be learned), listed alone and in serving's order
    (``shopwise_served_model`` pays the fit, the served order reuses it)."""

    def __init__(self, task: ItemTask, complementary: bool, learned: bool = True) -> None:
        self.complementary = complementary
        self.learned = learned and not complementary
        n_items = task.train.n_items
        self.paths = category_paths(task.top_categories, task.leaf_categories, n_items)
        self.fitted: tuple[InteractionData, Source, bool] | None = None

    def _fit(self, data: InteractionData) -> tuple[Source, bool]:
        if self.fitted is None or self.fitted[0] is not data:
            if self.learned:
                similar, _note = fit_similar(data)
                if similar is not None:
                    self.fitted = (data, similar.similar_items, True)
                    return self.fitted[1], True
            self.fitted = (data, _served_source(data, self.complementary), False)
        return self.fitted[1], self.fitted[2]

    def alone(self, data: InteractionData) -> Neighbours:
        return _Source(self._fit(data)[0])

    def in_served_order(self, data: InteractionData) -> Neighbours:
        source, learned = self._fit(data)
        if learned:
            return _LearnedOrder(source)
        return ServedNeighbours(source, self.paths, self.complementary)


class _RelatedRankers:
    """The learned item-to-item ranker (:mod:`shopwise.recommend.related_ranker`) over every
    neighbour source, fitted on what the event store holds; once per data set, listed alone and
    in the order of :class:`ServedNeighbours` (for similar: the category order serving gives
    the transition fallback, not the learned lists)."""

    def __init__(self, task: ItemTask, complementary: bool) -> None:
        self.complementary = complementary
        n_items = task.train.n_items
        self.paths = category_paths(task.top_categories, task.leaf_categories, n_items)
        self.fitted: tuple[InteractionData, Neighbours] | None = None

    def alone(self, data: InteractionData) -> Neighbours:
        if self.fitted is None or self.fitted[0] is not data:
            ranker = RelatedRanker(complementary=self.complementary)
            ranker.fit(data)
            self.fitted = (data, ranker.neighbours())
        return self.fitted[1]

    def in_served_order(self, data: InteractionData) -> Neighbours:
        source = self.alone(data)
        return ServedNeighbours(source.similar_items, self.paths, self.complementary)


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
    rankers = _RelatedRankers(task, complementary)
    served = _Served(task, complementary)
    fallback: list[tuple[str, Build, bool]] = []
    if not complementary:
        # what /similar serves when a training run could not learn the ranker
        transition = _Served(task, complementary, learned=False)
        fallback.append(("shopwise_fallback_similar", transition.in_served_order, True))
    return [
        *peers,
        ("related_ranker", rankers.alone, True),
        ("related_ranker_served_order", rankers.in_served_order, True),
        *fallback,
        ("shopwise_served_model", served.alone, True),
        (f"shopwise_served_{route}", served.in_served_order, True),
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
        n_items = session_items(sessions, tests)
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
SERVED = (
    "shopwise_fallback_similar",
    "shopwise_served_model",
    "shopwise_served_similar",
    "shopwise_served_complementary",
)
CANDIDATES = ("related_ranker", "related_ranker_served_order")
"""Methods measured against the peers like the served ones, without being served."""


def _cell(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _ratios(runs: dict[str, dict[str, Any]], served: str) -> str:
    peers = {name: m for name, m in runs.items() if name not in (*SERVED, *CANDIDATES)}
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
    served = [name for name in (*SERVED, *CANDIDATES) if name in runs]
    winner = max(runs.items(), key=lambda kv: kv[1]["NDCG@10"])[0]
    lines = [f"Against the best peer on each metric (goal {GOAL:.2f}x):"]
    lines += [f"- {_ratios(runs, name)}." for name in served]
    lines.append(f"- Best HR@10 and NDCG@10 here: **{winner}**.")
    return "\n".join(lines)


def _met(runs: dict[str, dict[str, Any]], served: str) -> bool:
    """Whether ``served`` reaches the goal on both HR@10 and NDCG@10 against the best peer."""
    peers = {name: m for name, m in runs.items() if name not in (*SERVED, *CANDIDATES)}
    for metric in ("HR@10", "NDCG@10"):
        best = max((m[metric] or 0.0) for m in peers.values())
        if not best or runs[served][metric] < GOAL * best:
            return False
    return True


def _summary(report: dict[str, Any]) -> str:
    """Which data sets the served answers reach the goal on (HR@10 and NDCG@10 both)."""
    met: list[str] = []
    missed: list[str] = []
    for key, section in report["datasets"].items():
        runs = {row["model"]: row["metrics"] for row in section["runs"]}
        served = f"shopwise_served_{section['task']}"
        if served in runs:
            (met if _met(runs, served) else missed).append(f"{key} ({section['task']})")
    return (
        f"Served answers at {GOAL:.2f}x the best peer on both HR@10 and NDCG@10: met on "
        + (", ".join(met) or "none")
        + "; not met on "
        + (", ".join(missed) or "none")
        + "."
    )


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
        "What is served: /similar answers with the learned ranker's lists "
        "(`related_ranker`, kept by each training run) in the ranker's own order "
        "(`similar:learned`), the transition generator in category order only when a run "
        "could not learn it (`similar:co-viewed`); /complementary answers with EASE over "
        "the orders (`complementary:co-visited`). " + _summary(report),
        "",
        "A query's answer sums the scores of each query product's 100 best neighbours (the "
        "candidate count serving asks for), drops the query products and keeps 10. "
        "*Complementary*: invoices of the last tenth of the selling days are test; one product "
        "of each invoice with two or more distinct products is hidden (seeded draw), the others "
        "are the query; peers learn from the training invoices. *Similar*: the last item before "
        "the target is the only query (Amazon: train on all but each user's last item; "
        "Diginetica: the SR-GNN test prefixes); examples whose target is the query product are "
        "dropped. `shopwise_served_model` is the neighbour source serving asks, fitted on "
        "each customer's sequence as the event store holds it, as a training run fits it: for "
        "complementary the EASE neighbours (`recommend.training.fit_complements`, 100 per "
        "item) learned from the orders (the products of one order share its time; the "
        "customers' sequences only where there are too few orders), its ridge penalty and "
        "dropout emphasis (EDLAE, Steck 2020) picked on a grid by completing the latest "
        "tenth of the training orders with a model fitted on the orders before them, the "
        "transition generator when the products are over EASE's item limit; for "
        "similar the learned ranker's lists (`recommend.training.fit_similar`: "
        "`related_ranker` below, 100 per item that has any interaction). "
        "`shopwise_served_similar` / `_complementary` put those neighbours in serving's order "
        "with `recommend.rank_related`, the function `serving/_service.py` `_related` calls "
        "(the same fit, reused): /similar keeps the learned lists in the ranker's order and "
        "drops only neighbours without evidence, /complementary keeps other leaf categories "
        "(serving's content neighbours and category-walk fill after them are not measured). "
        "`shopwise_fallback_similar` is what /similar serves when a training run could not "
        "learn the ranker (too little data): the pipeline's first transition generator read "
        "in both directions (`recommend.similar_neighbours`, predecessors at "
        "`SIMILAR_BACKWARD`), reordered by category (deepest shared category first: same "
        "leaf, then same department, then the rest), the served similar method before "
        "issue 23's learned ranker. "
        "`transition_forward` is the transition generator alone, following items only (the "
        "served similar source before issue 23, part 4); `transition_both_ways` counts "
        "follow-ups in both directions at full weight. "
        "`related_ranker` is the learned item-to-item ranker (`recommend/related_ranker.py`; "
        "served for similar, measured only for complementary, where EASE is served): the "
        "union of each neighbour source's best 100 (transitions forward, "
        "backward, both ways and next click, two hops through the 20 strongest co-visited "
        "products, co-occurrence, cosine; basket co-occurrence, basket cosine "
        "where timestamps mark baskets; EASE within its item limit; content where items have "
        "attributes) ordered by a LightGBM lambdarank model on the sources' scores and ranks, "
        "popularity, how many products each was co-visited with, and shared attributes. "
        "It learns from the training data only: the sources "
        "are fitted without each sequence's end (its last item; for complementary its last "
        "basket), the end labels the candidates, then the sources are refitted on all of it "
        "(its fit time counts both). A neighbour's score is its softmax share among the "
        "item's candidates, at the temperature that best completes held-out training baskets "
        "(complementary). `related_ranker_served_order` is its lists in the category order "
        "serving gives the transition fallback (similar) or in the complementary order "
        "(`rank_related`, as above; the same fit, reused): why /similar serves the learned "
        "lists in their own order. "
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
