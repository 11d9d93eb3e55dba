"""The three offline protocols as single calls: read the files, split, evaluate one model.

These are what the ``shopwise evaluate`` commands and ``benchmarks/quality.py`` call. Each reads
its input with the dataset adapters, builds the validation and test splits of its protocol,
and hands them to :func:`evaluate_model` with the registry entry of the requested model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import Progress

from shopwise.evaluate._datasets import (
    EventLog,
    read_attributes,
    read_events,
    read_sequences,
    read_session_tests,
    read_sessions,
    session_items,
)
from shopwise.evaluate._errors import EvaluationInputError
from shopwise.evaluate._harness import Evaluation, evaluate_model
from shopwise.evaluate._specs import get_spec
from shopwise.evaluate._splits import (
    default_cutoff,
    leave_one_out,
    session_splits,
    temporal_splits,
)


@dataclass(frozen=True)
class RunOptions:
    """Options shared by every protocol run.

    Parameters
    ----------
    model
        Registry name.
    params
        Fixed parameters (skip the validation grid) or ``None`` to tune.
    seed
        Seed of every sample the harness draws.
    batch_size
        Histories per scoring call.
    max_valid_queries
        Validation queries sampled per grid point.
    """

    model: str = "popular"
    params: dict[str, Any] | None = None
    seed: int = 0
    batch_size: int = 1024
    max_valid_queries: int = 10_000


def _dataset_name(path: Path) -> str:
    return path.resolve().parent.name or path.stem


def _check_available(model: str) -> None:
    spec = get_spec(model)
    if not spec.available():
        raise EvaluationInputError(f"model {model!r} is registered but {spec.module} is missing")


def run_next_item(
    sequences: Path,
    attributes: Path | None,
    options: RunOptions,
    progress: Progress | None = None,
) -> Evaluation:
    """Next-item full-ranking leave-one-out on an S3-Rec ``sequences.txt``."""
    _check_available(options.model)
    seqs = read_sequences(sequences)
    n_items = int(max(int(s.max()) for s in seqs if len(s)) + 1)
    content = read_attributes(attributes, n_items) if attributes is not None else None
    valid, test = leave_one_out(seqs, n_items, content)
    return evaluate_model(
        get_spec(options.model),
        valid,
        test,
        task="next-item",
        dataset=_dataset_name(sequences),
        count_key="users",
        rng=np.random.default_rng(options.seed),
        params=options.params,
        batch_size=options.batch_size,
        max_valid_queries=options.max_valid_queries,
        progress=progress,
    )


def run_sessions(
    train: Path, test: Path, options: RunOptions, progress: Progress | None = None
) -> Evaluation:
    """SR-GNN session protocol: rank every item for each test prefix (P@20 is ``HR@20``)."""
    _check_available(options.model)
    sessions = read_sessions(train)
    examples = read_session_tests(test)
    n_items = session_items(sessions, examples)
    rng = np.random.default_rng(options.seed)
    valid, test_split = session_splits(sessions, examples, n_items, rng)
    return evaluate_model(
        get_spec(options.model),
        valid,
        test_split,
        task="sessions",
        dataset=_dataset_name(train),
        count_key="examples",
        rng=rng,
        params=options.params,
        batch_size=options.batch_size,
        max_valid_queries=options.max_valid_queries,
        progress=progress,
    )


def parse_cutoff(text: str | None) -> pd.Timestamp | None:
    """Parse ``YYYY-MM-DD`` (or any ISO timestamp) into a naive timestamp."""
    if text is None:
        return None
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise EvaluationInputError(f"bad cutoff {text!r}; expected YYYY-MM-DD") from None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(None)
    return stamp


def run_temporal(
    events: Path | EventLog,
    cutoff: pd.Timestamp | None,
    options: RunOptions,
    progress: Progress | None = None,
    dataset: str | None = None,
) -> Evaluation:
    """Temporal protocol on an event log (a file, or one read from the store).

    Cold-start metrics (targets first sold after the cutoff) come under ``"cold_start"``
    (ranked against the whole catalog) and ``"cold_start_new_items"`` (ranked against the items
    not sold before the cutoff only). An interaction-only model, popularity included, gives a
    never-sold item no signal, so it cannot place it in the first block at all, and in the second
    its order is the item index's (first sale), not a preference.
    """
    _check_available(options.model)
    log = read_events(events) if isinstance(events, Path) else events
    when = cutoff if cutoff is not None else default_cutoff(log)
    valid, test = temporal_splits(log, when)
    result = evaluate_model(
        get_spec(options.model),
        valid.split,
        test.split,
        task="temporal",
        dataset=dataset or (_dataset_name(events) if isinstance(events, Path) else "store"),
        count_key="users",
        rng=np.random.default_rng(options.seed),
        params=options.params,
        extra_queries={"cold_start": test.cold, "cold_start_new_items": test.cold_new_items},
        batch_size=options.batch_size,
        max_valid_queries=options.max_valid_queries,
        progress=progress,
    )
    result.extra["cutoff"] = str(when.date())
    result.extra["validation_cutoff"] = str(valid.cutoff.date())
    return result
