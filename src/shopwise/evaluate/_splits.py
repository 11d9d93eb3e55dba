"""Splits of the three offline protocols into training data and ranking queries.

Every protocol yields a validation split (for choosing hyperparameters) and a test split (for the
reported numbers), built so that no target ever reaches the data its model is trained on:

* next-item leave-one-out (S3-Rec): test target = each user's last item, trained on everything
  before it; validation target = the second to last item, trained on everything before that.
* sessions (SR-GNN): the given test prefixes against all training sessions; validation holds out
  the last ``valid_share`` of the training sessions (file order, which is chronological) and
  asks for the next click after each of their prefixes.
* temporal: train on events before a cutoff; the targets of each user are the items bought in
  the window after it that the user had not had before. Validation repeats this one window
  earlier. Items first seen after the cutoff form two separate cold-start query sets: the same
  users with only those targets, ranked against the whole catalog (``cold``: can a model surface
  a new item at all?), and ranked against the new items alone, every item with a training
  interaction masked (``cold_new_items``: which of the new arrivals does this user want?).
  The catalog (titles, prices) of every item is known to the models in both: a product can be
  listed before anybody buys it, which is what cold start means.

The query history is at most ``max_history`` most recent items; the mask is the user's whole
known history (the S3-Rec code masks the full training row), or nothing for sessions, where
re-clicks are legitimate targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopwise.evaluate._datasets import EventLog, SessionExamples
from shopwise.evaluate._errors import EvaluationInputError
from shopwise.recommend.candidates import IntArray, InteractionData, ItemContent
from shopwise.schema import Columns

MAX_HISTORY = 50
"""Most recent items a query history holds (the S3-Rec ``max_seq_length``)."""


@dataclass(frozen=True)
class Queries:
    """Ranking queries: model input, items never counted, and the relevant items."""

    histories: list[IntArray]
    masks: list[IntArray] | None
    targets: list[IntArray]

    def __len__(self) -> int:
        return len(self.histories)

    def subset(self, rows: Sequence[int]) -> Queries:
        """The queries at ``rows``, in that order."""
        masks = None if self.masks is None else [self.masks[i] for i in rows]
        return Queries(
            histories=[self.histories[i] for i in rows],
            masks=masks,
            targets=[self.targets[i] for i in rows],
        )


@dataclass(frozen=True)
class Split:
    """Training data and the queries evaluated against the model fitted on it."""

    train: InteractionData
    queries: Queries


def _query(prefix: IntArray, max_history: int) -> IntArray:
    return np.ascontiguousarray(prefix[-max_history:])


def _one_out(
    sequences: Sequence[IntArray],
    n_items: int,
    held_out: int,
    content: ItemContent | None,
    max_history: int,
) -> Split:
    train: list[IntArray] = []
    histories: list[IntArray] = []
    masks: list[IntArray] = []
    targets: list[IntArray] = []
    for sequence in sequences:
        cut = len(sequence) - held_out
        prefix = sequence[: max(cut, 0)]
        train.append(np.ascontiguousarray(prefix))
        if cut >= 1:
            histories.append(_query(prefix, max_history))
            masks.append(np.unique(prefix))
            targets.append(sequence[cut : cut + 1].copy())
    if not targets:
        raise EvaluationInputError("no user has enough items for a leave-one-out target")
    data = InteractionData(sequences=train, n_items=n_items, content=content)
    return Split(train=data, queries=Queries(histories, masks, targets))


def leave_one_out(
    sequences: Sequence[IntArray],
    n_items: int,
    content: ItemContent | None = None,
    max_history: int = MAX_HISTORY,
) -> tuple[Split, Split]:
    """Validation and test splits of the next-item leave-one-out protocol.

    Parameters
    ----------
    sequences
        Chronological item indices per user.
    n_items
        Catalog size.
    content
        Optional item content handed to the models.
    max_history
        Most recent items in a query.

    Returns
    -------
    tuple of Split
        ``(validation, test)``: the validation split trains on all but the last two items of
        each user and targets the second to last; the test split trains on all but the last.
    """
    valid = _one_out(sequences, n_items, 2, content, max_history)
    test = _one_out(sequences, n_items, 1, content, max_history)
    return valid, test


def session_splits(
    train_sessions: Sequence[IntArray],
    tests: SessionExamples,
    n_items: int,
    rng: np.random.Generator,
    valid_share: float = 0.1,
    max_valid: int = 20_000,
    max_history: int = MAX_HISTORY,
) -> tuple[Split, Split]:
    """Validation and test splits of the SR-GNN session protocol.

    The models are fitted on whole training sessions, which contain every training prefix and
    the click that followed it (the SR-GNN training examples). Validation prefixes are sampled
    down to ``max_valid`` with ``rng``.
    """
    cut = round(len(train_sessions) * (1.0 - valid_share))
    if cut <= 0 or cut >= len(train_sessions):
        raise EvaluationInputError("too few training sessions to hold out a validation share")
    histories: list[IntArray] = []
    targets: list[IntArray] = []
    for session in train_sessions[cut:]:
        for end in range(1, len(session)):
            histories.append(_query(session[:end], max_history))
            targets.append(session[end : end + 1].copy())
    if not histories:
        raise EvaluationInputError("validation sessions have no prefix with a next click")
    valid_queries = Queries(histories, None, targets)
    if len(valid_queries) > max_valid:
        rows = np.sort(rng.choice(len(valid_queries), size=max_valid, replace=False))
        valid_queries = valid_queries.subset(rows.tolist())
    valid = Split(InteractionData(list(train_sessions[:cut]), n_items), valid_queries)
    test_queries = Queries(
        histories=[_query(p, max_history) for p in tests.prefixes],
        masks=None,
        targets=[np.asarray([t], dtype=np.int64) for t in tests.targets],
    )
    return valid, Split(InteractionData(list(train_sessions), n_items), test_queries)


@dataclass(frozen=True)
class TemporalSplit:
    """A temporal split plus its cold-start queries (targets first sold after the cutoff).

    ``cold`` ranks those targets against every item; ``cold_new_items`` asks the same queries
    with every item bought before the cutoff masked, so only the new arrivals compete.
    """

    split: Split
    cold: Queries
    cutoff: pd.Timestamp
    end: pd.Timestamp
    cold_new_items: Queries


def _sequences_before(
    events: pd.DataFrame, cutoff: pd.Timestamp
) -> tuple[pd.Series, list[IntArray]]:
    """Each user's items before ``cutoff`` (oldest first) and their unix seconds, aligned."""
    before = events[events[Columns.TIME] < cutoff]
    items: pd.Series = before.groupby(Columns.USER, sort=False)[Columns.ITEM].agg(
        lambda s: s.to_numpy(dtype=np.int64)
    )
    stamps = before[Columns.TIME].to_numpy(dtype="datetime64[s]").astype(np.int64)
    rows = before.groupby(Columns.USER, sort=False).indices
    return items, [np.ascontiguousarray(stamps[rows[user]]) for user in items.index]


def temporal_window(
    log: EventLog, cutoff: pd.Timestamp, end: pd.Timestamp, max_history: int = MAX_HISTORY
) -> TemporalSplit:
    """Train on events before ``cutoff``; target new-to-user items in ``[cutoff, end)``."""
    events = log.events
    history, seconds = _sequences_before(events, cutoff)
    if history.empty:
        raise EvaluationInputError(f"no events before the cutoff {cutoff.date()}")
    window = events[(events[Columns.TIME] >= cutoff) & (events[Columns.TIME] < end)]
    after: dict[str, IntArray] = {
        str(user): np.unique(items.to_numpy(dtype=np.int64))
        for user, items in window.groupby(Columns.USER, sort=False)[Columns.ITEM]
    }
    first_sold = events.groupby(Columns.ITEM)[Columns.TIME].min()
    cold_items = np.asarray(first_sold.index[first_sold >= cutoff], dtype=np.int64)
    sequences = [np.ascontiguousarray(seq) for seq in history.to_numpy()]
    queries: list[tuple[IntArray, IntArray, IntArray]] = []
    cold: list[tuple[IntArray, IntArray, IntArray]] = []
    for user, seq in zip(history.index, sequences, strict=True):
        if user not in after:
            continue
        known = np.unique(seq)
        fresh = np.setdiff1d(after[user], known)
        query = (_query(seq, max_history), known, fresh)
        if len(fresh):
            queries.append(query)
        fresh_cold = np.intersect1d(fresh, cold_items)
        if len(fresh_cold):
            cold.append((query[0], known, fresh_cold))
    if not queries:
        raise EvaluationInputError(
            f"no user bought something new between {cutoff.date()} and {end.date()}"
        )
    data = InteractionData(
        sequences=sequences, n_items=len(log.items), timestamps=seconds, content=log.content
    )

    def as_queries(rows: list[tuple[IntArray, IntArray, IntArray]]) -> Queries:
        return Queries([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    sold = np.setdiff1d(np.arange(len(log.items), dtype=np.int64), cold_items)
    new_items = [(r[0], np.union1d(r[1], sold), r[2]) for r in cold]
    return TemporalSplit(
        Split(data, as_queries(queries)), as_queries(cold), cutoff, end, as_queries(new_items)
    )


def default_cutoff(log: EventLog, share: float = 0.8) -> pd.Timestamp:
    """The day by which ``share`` of the events had happened (midnight)."""
    stamp = pd.Timestamp(str(log.events[Columns.TIME].quantile(share)))
    return stamp.normalize()


def temporal_splits(
    log: EventLog, cutoff: pd.Timestamp, max_history: int = MAX_HISTORY
) -> tuple[TemporalSplit, TemporalSplit]:
    """Validation and test temporal splits around ``cutoff``.

    The test window runs from ``cutoff`` to the end of the log; the validation split uses a
    window of the same length just before ``cutoff`` and trains on what precedes it.
    """
    last = pd.Timestamp(log.events[Columns.TIME].max())
    first = pd.Timestamp(log.events[Columns.TIME].min())
    if not first < cutoff <= last:
        raise EvaluationInputError(
            f"cutoff {cutoff.date()} is outside the log ({first.date()} to {last.date()})"
        )
    end = last + pd.Timedelta(seconds=1)
    valid_cutoff = cutoff - (end - cutoff)
    test = temporal_window(log, cutoff, end, max_history)
    valid = temporal_window(log, valid_cutoff, cutoff, max_history)
    return valid, test
