"""The item-to-item protocols on tiny hand-made data: split, hiding, aggregation, metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopwise.evaluate import (
    CooccurrenceNeighbours,
    EvaluationInputError,
    ItemQueries,
    LiftNeighbours,
    ServedNeighbours,
    SessionExamples,
    aggregate,
    answer_lists,
    basket_task,
    category_codes,
    category_paths,
    category_share,
    day_share_cutoff,
    hide_one,
    item_metrics,
    similar_from_sequences,
    similar_from_sessions,
)
from shopwise.evaluate._item_to_item import BASKET
from shopwise.recommend.candidates import FloatArray, IntArray, InteractionData
from shopwise.schema import Columns


def _a(*items: int) -> IntArray:
    return np.asarray(items, dtype=np.int64)


def _lines(rows: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            BASKET: [r[0] for r in rows],
            Columns.USER: [r[1] for r in rows],
            Columns.ITEM: np.asarray([r[2] for r in rows], dtype=np.int64),
            Columns.TIME: pd.to_datetime([r[3] for r in rows]),
        }
    )


def test_the_last_tenth_of_selling_days_is_test() -> None:
    days = pd.Series(pd.to_datetime([f"2011-01-{d:02d} 10:00" for d in range(1, 11)]))
    assert day_share_cutoff(days, 0.1) == pd.Timestamp("2011-01-10")
    assert day_share_cutoff(days, 0.3) == pd.Timestamp("2011-01-08")
    with pytest.raises(EvaluationInputError):
        day_share_cutoff(days.iloc[:1], 0.1)


def test_basket_task_trains_before_the_cutoff_and_hides_one_known_product() -> None:
    lines = _lines(
        [
            ("i1", "c1", 0, "2011-01-01 09:00"),
            ("i1", "c1", 1, "2011-01-01 09:00"),
            ("i2", "c2", 1, "2011-01-02 09:00"),
            ("i2", "c2", 2, "2011-01-02 09:00"),
            ("i3", "c1", 2, "2011-01-03 09:00"),
            # test day: a two-product basket, a one-product basket, an all-new basket
            ("t1", "c1", 0, "2011-01-04 09:00"),
            ("t1", "c1", 2, "2011-01-04 09:00"),
            ("t1", "c1", 2, "2011-01-04 09:00"),
            ("t2", "c2", 1, "2011-01-04 10:00"),
            ("t3", "c2", 3, "2011-01-04 11:00"),
            ("t3", "c2", 4, "2011-01-04 11:00"),
        ]
    )
    task, cutoff = basket_task(lines, 5, np.random.default_rng(0), test_share=0.25)
    assert cutoff == pd.Timestamp("2011-01-04")
    baskets = sorted(tuple(s.tolist()) for s in task.train.sequences)
    assert baskets == [(0, 1), (1, 2), (2,)]
    # the engine's model learns from each customer's sequence, not from the invoices
    assert sorted(tuple(s.tolist()) for s in task.served_train.sequences) == [(0, 1, 2), (1, 2)]
    assert task.dropped == {"single_product": 1, "target_unseen": 1}
    assert len(task.queries) == 1
    (query,), (target,) = task.queries.queries, task.queries.targets
    assert sorted([*query.tolist(), int(target)]) == [0, 2]


def test_hide_one_is_seeded_and_never_leaves_the_target_in_the_query() -> None:
    baskets = [_a(5, 3, 3, 7), _a(1, 2), _a(9)]
    known = np.ones(10, dtype=bool)
    first, dropped = hide_one(baskets, known, np.random.default_rng(4))
    again, _ = hide_one(baskets, known, np.random.default_rng(4))
    assert first.targets.tolist() == again.targets.tolist()
    assert dropped["single_product"] == 1
    for query, target, basket in zip(first.queries, first.targets, baskets, strict=False):
        assert target not in query
        assert sorted([*query.tolist(), int(target)]) == sorted(set(basket.tolist()))


def test_aggregate_sums_neighbour_scores_drops_the_query_and_pads() -> None:
    lists = [(_a(4, 2, 9), [3.0, 1.0, 0.5]), (_a(2, 1, 4), [2.5, 2.0, 0.1])]
    # totals: 2 -> 3.5, 4 -> 3.1, 1 -> 2.0 (a query item), 9 -> 0.5
    assert aggregate(lists, _a(1), k=5).tolist() == [2, 4, 9, -1, -1]
    # ties go to the lower index
    assert aggregate([(_a(8, 3), [1.0, 1.0])], _a(0), k=2).tolist() == [3, 8]
    assert aggregate([], _a(0), k=2).tolist() == [-1, -1]


class _Table:
    """Fixed neighbour lists that count how often they are asked."""

    def __init__(self, table: dict[int, tuple[IntArray, FloatArray]]) -> None:
        self.table = table
        self.asked: list[int] = []

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        self.asked.append(item)
        items, scores = self.table[item]
        return items[:n], scores[:n]


def test_answer_lists_ask_each_query_product_once() -> None:
    model = _Table(
        {
            0: (_a(1, 2), np.asarray([2.0, 1.0], dtype=np.float32)),
            3: (_a(2, 0), np.asarray([5.0, 1.0], dtype=np.float32)),
        }
    )
    queries = ItemQueries([_a(0), _a(0, 3), _a(3)], _a(1, 2, 1))
    lists = answer_lists(model, queries, k=2, pool=10)
    assert lists.tolist() == [[1, 2], [2, 1], [2, 0]]
    assert sorted(model.asked) == [0, 3]


def test_item_metrics_hit_rate_ndcg_coverage_and_answered() -> None:
    lists = np.asarray([[5, 2, -1], [1, 3, 4], [-1, -1, -1]])
    queries = ItemQueries([_a(0), _a(0), _a(0)], _a(2, 7, 1))
    metrics = item_metrics(lists, queries, 10, None)
    assert metrics["HR@3"] == pytest.approx(1 / 3)
    assert metrics["NDCG@3"] == pytest.approx((1 / np.log2(3)) / 3)
    assert metrics["coverage@3"] == pytest.approx(5 / 10)
    assert metrics["answered"] == pytest.approx(2 / 3)
    assert metrics["category_share@3"] is None


def test_category_share_counts_answers_in_a_query_products_category() -> None:
    categories = _a(0, 0, 1, 1, -1)
    lists = np.asarray([[1, 2, -1], [3, 4, 0], [1, 2, 3]])
    # query 0 (cat 0): 1 in, 2 out; query 2 (cat 1): 3 in, 4 uncategorised, 0 out;
    # query 4 has no category and does not count
    queries = ItemQueries([_a(0), _a(2), _a(4)], _a(1, 3, 0))
    assert category_share(lists, queries, categories) == pytest.approx(2 / 5)
    two = ItemQueries([_a(0, 2)], _a(1))
    assert category_share(np.asarray([[1, 3, 4]]), two, categories) == pytest.approx(2 / 3)


def test_category_codes_skip_brands_and_a_shared_root() -> None:
    # "b1"/"b2" only come first (brands); "root" heads most paths
    attributes = [["b1", "root", "toys", "cars"], ["root", "games"], ["b2", "root", "toys"], []]
    top, leaf = category_codes(attributes)
    assert top[0] == top[2] != top[1]
    assert leaf[0] != leaf[2] and leaf[2] == top[2]
    assert top[3] == leaf[3] == -1
    flat, _ = category_codes(attributes, root_share=1.0)
    assert flat[0] == flat[1] == flat[2]


def test_similar_queries_use_the_item_before_the_target_and_drop_self_targets() -> None:
    task = similar_from_sequences([_a(0, 1, 2), _a(3, 4, 4), _a(5)], 6)
    assert [q.tolist() for q in task.queries.queries] == [[1]]
    assert task.queries.targets.tolist() == [2]
    assert task.dropped == {"target_is_query": 1}
    assert [s.tolist() for s in task.train.sequences] == [[0, 1], [3, 4], []]
    tests = SessionExamples([_a(0, 1), _a(2, 3)], _a(4, 3))
    sessions = similar_from_sessions([_a(0, 1, 4)], tests, 5)
    assert [q.tolist() for q in sessions.queries.queries] == [[1]]
    assert sessions.dropped == {"target_is_query": 1}


def test_cooccurrence_and_lift_peers() -> None:
    data = InteractionData([_a(0, 1), _a(0, 1), _a(0, 1), _a(0, 2), _a(2, 3)] * 2, 4)
    counts = CooccurrenceNeighbours()
    counts.fit(data)
    items, scores = counts.similar_items(0, 5)
    assert items.tolist() == [1, 2] and scores.tolist() == [6.0, 2.0]
    lift = LiftNeighbours(min_count=3)
    lift.fit(data)
    items, scores = lift.similar_items(0, 5)
    assert items.tolist() == [1]  # the 0-2 pair has only two baskets
    assert scores[0] == pytest.approx(6 * 10 / (8 * 6))
    with pytest.raises(RuntimeError):
        LiftNeighbours().similar_items(0, 1)


def test_served_neighbours_use_servings_own_rule() -> None:
    """Similar reorders (same leaf, same department, others) and keeps every neighbour with
    evidence; complementary keeps the other leaves; scores stay sorted so that the order holds."""
    model = _Table(
        {0: (_a(1, 2, 3, 4, 5), np.asarray([5.0, 4.0, 3.0, 2.0, 1e-7], dtype=np.float32))}
    )
    paths = category_paths(_a(9, 6, 9, 9, -1, 9), _a(7, 6, 8, 7, -1, 7), 6)
    assert paths[:5] == [(9, 7), (6,), (9, 8), (9, 7), ()]
    same = ServedNeighbours(model.similar_items, paths, complementary=False)
    items, scores = same.similar_items(0, 10)
    assert items.tolist() == [3, 2, 1, 4]  # item 5 has no evidence
    assert scores.tolist() == [5.0, 4.0, 3.0, 2.0]
    assert same.similar_items(0, 2)[0].tolist() == [3, 2]
    other = ServedNeighbours(model.similar_items, paths, complementary=True)
    assert other.similar_items(0, 10)[0].tolist() == [1, 2, 4]
    blind = ServedNeighbours(model.similar_items, category_paths(None, None, 6), False)
    assert blind.similar_items(0, 10)[0].tolist() == [1, 2, 3, 4]
