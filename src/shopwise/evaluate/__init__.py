"""Offline evaluation: protocols, metrics, dataset adapters and the model registry.

Every model claim in shopwise is measured here, on the public datasets, with the published
protocols (next-item leave-one-out, SR-GNN sessions, a temporal split for event logs) and beside
peer baselines that run through the same code. The CLI (``shopwise evaluate``) and
``benchmarks/quality.py`` are thin layers over :func:`run_next_item`, :func:`run_sessions` and
:func:`run_temporal`; ``benchmarks/item_to_item.py`` measures the product page's similar and
complementary answers with :func:`basket_task`, :func:`similar_from_sequences` and
:func:`similar_from_sessions`.
"""

from shopwise.evaluate._datasets import (
    EventLog,
    SessionExamples,
    read_attributes,
    read_events,
    read_sequences,
    read_session_tests,
    read_sessions,
    session_items,
)
from shopwise.evaluate._errors import EvaluationInputError
from shopwise.evaluate._harness import Evaluation, Ranking, evaluate_model, rank_queries
from shopwise.evaluate._holdout import HOLDOUT_CUTOFFS, Holdout, score_model, shop_holdout
from shopwise.evaluate._item_peers import (
    CooccurrenceNeighbours,
    LiftNeighbours,
    Neighbours,
    ServedNeighbours,
    category_paths,
)
from shopwise.evaluate._item_to_item import (
    ItemQueries,
    ItemTask,
    aggregate,
    answer_lists,
    basket_task,
    category_codes,
    category_share,
    day_share_cutoff,
    evaluate_neighbours,
    hide_one,
    item_metrics,
    read_invoices,
    similar_from_sequences,
    similar_from_sessions,
)
from shopwise.evaluate._metrics import (
    CUTOFFS,
    accuracy_metrics,
    beyond_accuracy_metrics,
    item_popularity,
    target_ranks,
    top_k_lists,
)
from shopwise.evaluate._protocols import (
    RunOptions,
    parse_cutoff,
    run_next_item,
    run_sessions,
    run_temporal,
)
from shopwise.evaluate._shop_log import store_event_log
from shopwise.evaluate._specs import REGISTRY, ModelSpec, available_models, get_spec
from shopwise.evaluate._splits import (
    MAX_HISTORY,
    Queries,
    Split,
    TemporalSplit,
    default_cutoff,
    leave_one_out,
    session_splits,
    temporal_splits,
)

__all__ = [
    "CUTOFFS",
    "HOLDOUT_CUTOFFS",
    "MAX_HISTORY",
    "REGISTRY",
    "CooccurrenceNeighbours",
    "Evaluation",
    "EvaluationInputError",
    "EventLog",
    "Holdout",
    "ItemQueries",
    "ItemTask",
    "LiftNeighbours",
    "ModelSpec",
    "Neighbours",
    "Queries",
    "Ranking",
    "RunOptions",
    "ServedNeighbours",
    "SessionExamples",
    "Split",
    "TemporalSplit",
    "accuracy_metrics",
    "aggregate",
    "answer_lists",
    "available_models",
    "basket_task",
    "beyond_accuracy_metrics",
    "category_codes",
    "category_paths",
    "category_share",
    "day_share_cutoff",
    "default_cutoff",
    "evaluate_model",
    "evaluate_neighbours",
    "get_spec",
    "hide_one",
    "item_metrics",
    "item_popularity",
    "leave_one_out",
    "parse_cutoff",
    "rank_queries",
    "read_attributes",
    "read_events",
    "read_invoices",
    "read_sequences",
    "read_session_tests",
    "read_sessions",
    "run_next_item",
    "run_sessions",
    "run_temporal",
    "score_model",
    "session_items",
    "session_splits",
    "shop_holdout",
    "similar_from_sequences",
    "similar_from_sessions",
    "store_event_log",
    "target_ranks",
    "temporal_splits",
    "top_k_lists",
]
