"""Protocol splits on tiny data, including the leakage guarantees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopwise.evaluate import (
    EvaluationInputError,
    EventLog,
    SessionExamples,
    leave_one_out,
    session_splits,
    temporal_splits,
)
from shopwise.recommend.candidates import ItemIndex
from shopwise.schema import Columns


def _seqs(*rows: list[int]) -> list[np.ndarray]:
    return [np.asarray(r, dtype=np.int64) for r in rows]


def test_leave_one_out_by_hand() -> None:
    valid, test = leave_one_out(_seqs([0, 1, 2, 3], [4, 5, 1], [2, 3]), n_items=6)
    assert [s.tolist() for s in test.train.sequences] == [[0, 1, 2], [4, 5], [2]]
    assert [t.tolist() for t in test.queries.targets] == [[3], [1], [3]]
    assert [h.tolist() for h in test.queries.histories] == [[0, 1, 2], [4, 5], [2]]
    assert [s.tolist() for s in valid.train.sequences] == [[0, 1], [4], []]
    # the two-item user has no validation target (nothing would be left to query)
    assert [t.tolist() for t in valid.queries.targets] == [[2], [5]]


def test_query_keeps_the_last_50_items_and_masks_the_whole_history() -> None:
    sequence = np.arange(60, dtype=np.int64)
    _, test = leave_one_out([sequence], n_items=60)
    assert test.queries.histories[0].tolist() == list(range(9, 59))
    assert test.queries.masks is not None
    assert test.queries.masks[0].tolist() == list(range(59))


def test_test_target_never_reaches_training(rng: np.random.Generator) -> None:
    sequences = [rng.integers(0, 50, size=int(rng.integers(3, 12))) for _ in range(200)]
    valid, test = leave_one_out(sequences, n_items=50)
    for seq, train_seq in zip(sequences, test.train.sequences, strict=True):
        assert len(train_seq) == len(seq) - 1  # the last position is never trained on
    for seq, train_seq in zip(sequences, valid.train.sequences, strict=True):
        assert len(train_seq) == len(seq) - 2
    # the validation split never sees either held-out position
    assert sum(map(len, valid.train.sequences)) == sum(map(len, sequences)) - 2 * len(sequences)


def test_leave_one_out_needs_a_target() -> None:
    with pytest.raises(EvaluationInputError):
        leave_one_out(_seqs([1]), n_items=2)


def test_session_splits_hold_out_the_last_sessions(rng: np.random.Generator) -> None:
    train = _seqs(*[[i, i + 1, i + 2] for i in range(10)])
    tests = SessionExamples(prefixes=_seqs([1, 2], [3]), targets=np.array([3, 4]))
    valid, test = session_splits(train, tests, n_items=13, rng=rng, valid_share=0.2)
    assert len(valid.train.sequences) == 8
    assert valid.queries.masks is None and test.queries.masks is None
    # held-out sessions [8, 9, 10] and [9, 10, 11]: prefixes [8], [8, 9], [9], [9, 10]
    assert sorted(h.tolist() for h in valid.queries.histories) == [[8], [8, 9], [9], [9, 10]]
    assert sorted(t.tolist() for t in valid.queries.targets) == [[9], [10], [10], [11]]
    assert len(test.train.sequences) == 10
    assert [t.tolist() for t in test.queries.targets] == [[3], [4]]


def _log() -> EventLog:
    day = pd.Timestamp("2024-01-01")
    rows = [
        ("a", 0, 0),
        ("a", 1, 1),
        ("b", 1, 2),
        ("b", 2, 3),  # before the validation window
        ("a", 2, 5),
        ("b", 0, 6),  # validation window [4, 8)
        ("a", 3, 9),
        ("a", 0, 9),
        ("b", 4, 10),
        ("c", 3, 10),  # test window [8, 12]
        ("b", 1, 12),
    ]
    frame = pd.DataFrame(
        {
            Columns.USER: [r[0] for r in rows],
            Columns.ITEM: np.array([r[1] for r in rows], dtype=np.int64),
            Columns.TIME: [day + pd.Timedelta(days=r[2]) for r in rows],
        }
    )
    return EventLog(events=frame, items=ItemIndex(tuple("pqrst")), content=None)


def test_temporal_split_by_hand() -> None:
    valid, test = temporal_splits(_log(), pd.Timestamp("2024-01-09"))
    # training holds only events before the cutoff
    assert sorted(s.tolist() for s in test.split.train.sequences) == [[0, 1, 2], [1, 2, 0]]
    # a's new item after the cutoff is 3 (0 was already bought); b's is 4 (1 is a repeat);
    # c has no history before the cutoff and cannot be queried.
    got = {
        tuple(h.tolist()): t.tolist()
        for h, t in zip(test.split.queries.histories, test.split.queries.targets, strict=True)
    }
    assert got == {(0, 1, 2): [3], (1, 2, 0): [4]}
    # items 3 and 4 were first sold after the cutoff: both users have cold-start targets.
    assert sorted(t.tolist() for t in test.cold.targets) == [[3], [4]]
    # the same cold queries among the new arrivals only: everything sold before is masked
    new_items = test.cold_new_items
    assert [t.tolist() for t in new_items.targets] == [t.tolist() for t in test.cold.targets]
    assert new_items.masks is not None
    for mask in new_items.masks:
        assert sorted(set(range(5)) - set(mask.tolist())) == [3, 4]
    # the validation window has the same length (4 days 1 s) and ends at the cutoff
    assert valid.end == test.cutoff
    assert sorted(s.tolist() for s in valid.split.train.sequences) == [[0, 1], [1, 2]]


def test_temporal_cutoff_outside_the_log_is_refused() -> None:
    with pytest.raises(EvaluationInputError, match="outside the log"):
        temporal_splits(_log(), pd.Timestamp("2030-01-01"))
