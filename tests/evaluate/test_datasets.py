"""Dataset adapters on tiny files written by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopwise.evaluate import (
    EvaluationInputError,
    read_attributes,
    read_events,
    read_sequences,
    read_session_tests,
    read_sessions,
    session_items,
)
from shopwise.schema import Columns


def test_sequences_become_zero_based(tmp_path: Path) -> None:
    path = tmp_path / "sequences.txt"
    path.write_text("1 1 2 3\n2 3 1\n\n", encoding="utf-8")
    assert [s.tolist() for s in read_sequences(path)] == [[0, 1, 2], [2, 0]]


@pytest.mark.parametrize("text", ["1 0 2\n", "7\n", "", "1 a\n"])
def test_bad_sequences_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sequences.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EvaluationInputError):
        read_sequences(path)


def test_attributes_align_with_indices(tmp_path: Path) -> None:
    path = tmp_path / "item_attributes.json"
    path.write_text(json.dumps({"1": [4, 5], "3": [6], "99": [1]}), encoding="utf-8")
    content = read_attributes(path, n_items=3)
    assert content.categories == [["4", "5"], [], ["6"]]
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(EvaluationInputError, match="JSON object"):
        read_attributes(path, n_items=3)


def test_sessions_and_test_prefixes(tmp_path: Path) -> None:
    train = tmp_path / "train_sessions.txt"
    train.write_text("1 2\n3 4 5\n", encoding="utf-8")
    assert [s.tolist() for s in read_sessions(train)] == [[0, 1], [2, 3, 4]]
    test = tmp_path / "test_prefixes.tsv"
    test.write_text("5\t1 2 2\n1\t4\n", encoding="utf-8")
    examples = read_session_tests(test)
    assert examples.targets.tolist() == [4, 0]
    assert [p.tolist() for p in examples.prefixes] == [[0, 1, 1], [3]]
    assert session_items(read_sessions(train), examples) == 5
    test.write_text("7\t1\n1\t6\n", encoding="utf-8")
    assert session_items(read_sessions(train), read_session_tests(test)) == 7
    test.write_text("1\t9\n", encoding="utf-8")
    assert session_items(read_sessions(train), read_session_tests(test)) == 9
    test.write_text("5 1 2\n", encoding="utf-8")
    with pytest.raises(EvaluationInputError, match="TAB"):
        read_session_tests(test)


def test_online_retail_cleaning_and_content(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "InvoiceNo": ["1", "1", "C2", "3", "4", "5"],
            "StockCode": ["a1", "B2", "a1", "A1", "b2", "c3"],
            "Description": ["MUG", "CUP", "MUG", "MUG RED", "CUP", "PLATE"],
            "Quantity": [1, 2, -1, 3, 1, 0],
            "InvoiceDate": pd.to_datetime(
                ["2011-01-01", "2011-01-01", "2011-01-02", "2011-01-03", "2011-01-04", "2011-01-05"]
            ),
            "UnitPrice": [2.0, 1.0, 2.0, 4.0, 1.5, 3.0],
            "CustomerID": [10.0, 10.0, 10.0, np.nan, 11.0, 12.0],
            "Country": ["UK"] * 6,
        }
    )
    path = tmp_path / "retail.parquet"
    frame.to_parquet(path)
    log = read_events(path)
    # the cancellation, the line without a customer and the zero quantity are gone
    assert len(log.events) == 3
    assert log.items.ids == ("A1", "B2")
    assert log.events[Columns.USER].tolist() == ["10", "10", "11"]
    assert log.content is not None
    assert log.content.texts == ["MUG", "CUP"]
    assert log.content.prices is not None
    np.testing.assert_allclose(log.content.prices, [2.0, 1.25])


def test_generic_events_need_their_columns(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user,item\n1,2\n", encoding="utf-8")
    with pytest.raises(EvaluationInputError, match="missing columns"):
        read_events(path)


def test_online_retail_reader_shares_the_import_adapters_cleaning(tmp_path: Path) -> None:
    from shopwise.collect.adapters.uci import convert_uci

    frame = pd.DataFrame(
        {
            "InvoiceNo": ["1", " c2", "3", "4", "5", "6"],
            "StockCode": [" a1 ", "A1", "b2", "B2", "c3", "a1"],
            "Description": ["MUG", "MUG", "CUP", "CUP", "PLATE", "MUG"],
            "Quantity": [1, 1, 2, 1, 1, 4],
            "InvoiceDate": pd.date_range("2011-01-01", periods=6, freq="D"),
            "UnitPrice": [2.0, 2.0, 1.0, 1.0, float("inf"), 2.0],
            "CustomerID": [10.0, 10.0, 11.0, 12.0, 12.0, 11.0],
            "Country": ["UK"] * 6,
        }
    )
    path = tmp_path / "retail.parquet"
    frame.to_parquet(path)
    log = read_events(path)
    # a lower-case cancellation and an infinite price are dropped, codes are normalised
    assert log.items.ids == ("A1", "B2")
    assert log.events[Columns.USER].tolist() == ["10", "11", "12", "11"]
    imported = convert_uci(frame)
    bought = {
        (event["user_id"].removeprefix("uci-"), line["product_id"])
        for event in imported.events
        for line in event["properties"]["products"]
    }
    harness = set(
        zip(
            log.events[Columns.USER],
            log.items.decode(log.events[Columns.ITEM].to_numpy()),
            strict=True,
        )
    )
    assert harness == bought
