"""Dataset adapters: read the public benchmark formats into the harness's item indices.

Each reader validates as it goes and raises :class:`EvaluationInputError` naming the file and
line. Integer-id formats (the S3-Rec Amazon sequences, the SR-GNN Diginetica sessions) keep
their ids: item id ``i`` becomes index ``i - 1``. Event logs (the UCI Online Retail parquet, or
any CSV/parquet with ``user_id``, ``product_id``, ``timestamp`` columns) are mapped through an
:class:`ItemIndex` ordered by first appearance, with titles and prices as :class:`ItemContent`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shopwise.evaluate._errors import EvaluationInputError
from shopwise.recommend.candidates import IntArray, ItemContent, ItemIndex
from shopwise.schema import Columns


@dataclass(frozen=True)
class SessionExamples:
    """Session-based test examples: a prefix of clicks and the item clicked next."""

    prefixes: list[IntArray]
    targets: IntArray


@dataclass(frozen=True)
class EventLog:
    """A cleaned event log: one row per interaction, columns :class:`Columns` names."""

    events: pd.DataFrame
    items: ItemIndex
    content: ItemContent | None


def _positive_ids(tokens: list[str], path: Path, line_no: int) -> IntArray:
    try:
        ids = np.asarray([int(token) for token in tokens], dtype=np.int64)
    except ValueError:
        raise EvaluationInputError(f"{path}:{line_no}: expected integer item ids") from None
    if len(ids) and ids.min() < 1:
        raise EvaluationInputError(f"{path}:{line_no}: item ids must be >= 1")
    return ids - 1


def _open_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise EvaluationInputError(f"cannot read {path}: {error}") from None


def read_sequences(path: Path) -> list[IntArray]:
    """Read ``user_id item_1 item_2 ...`` lines (S3-Rec format) into 0-based item sequences.

    Parameters
    ----------
    path
        The ``sequences.txt`` file.

    Returns
    -------
    list of numpy.ndarray
        One chronological item-index sequence per user, in file order.
    """
    sequences: list[IntArray] = []
    for line_no, line in enumerate(_open_lines(path), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 2:
            raise EvaluationInputError(f"{path}:{line_no}: expected 'user_id item ...'")
        sequences.append(_positive_ids(tokens[1:], path, line_no))
    if not sequences:
        raise EvaluationInputError(f"{path}: no sequences found")
    return sequences


def read_attributes(path: Path, n_items: int) -> ItemContent:
    """Read ``{item_id: [attribute ids]}`` JSON into :class:`ItemContent` categories.

    The Amazon attribute ids mix categories and brands without saying which is which, so all of
    them land in ``categories`` as strings; items absent from the file get an empty list.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EvaluationInputError(f"cannot read attributes {path}: {error}") from None
    if not isinstance(raw, dict):
        raise EvaluationInputError(f"{path}: expected a JSON object of item id -> attribute ids")
    categories: list[list[str]] = [[] for _ in range(n_items)]
    for key, values in raw.items():
        if not str(key).isdigit() or not isinstance(values, list):
            raise EvaluationInputError(f"{path}: bad entry for item {key!r}")
        index = int(key) - 1
        if 0 <= index < n_items:
            categories[index] = [str(value) for value in values]
    return ItemContent(texts=[""] * n_items, categories=categories, brands=[""] * n_items)


def read_sessions(path: Path) -> list[IntArray]:
    """Read one session per line (space-separated item ids, click order) into index arrays."""
    sessions = [
        _positive_ids(line.split(), path, line_no)
        for line_no, line in enumerate(_open_lines(path), start=1)
        if line.strip()
    ]
    if not sessions:
        raise EvaluationInputError(f"{path}: no sessions found")
    return sessions


def read_session_tests(path: Path) -> SessionExamples:
    """Read ``next_item<TAB>prefix items`` lines (the SR-GNN test file)."""
    prefixes: list[IntArray] = []
    targets: list[int] = []
    for line_no, line in enumerate(_open_lines(path), start=1):
        if not line.strip():
            continue
        target, sep, prefix = line.partition("\t")
        items = _positive_ids(prefix.split(), path, line_no)
        if not sep or not len(items):
            raise EvaluationInputError(f"{path}:{line_no}: expected 'next_item<TAB>prefix'")
        targets.append(int(_positive_ids([target.strip()], path, line_no)[0]))
        prefixes.append(items)
    if not prefixes:
        raise EvaluationInputError(f"{path}: no test examples found")
    return SessionExamples(prefixes=prefixes, targets=np.asarray(targets, dtype=np.int64))


def session_items(sessions: Sequence[IntArray], examples: SessionExamples) -> int:
    """Catalog size of a session data set: one past the largest item index of its training
    sessions, test prefixes and test targets."""
    return 1 + max(
        max(int(s.max()) for s in sessions),
        int(examples.targets.max()),
        max(int(p.max()) for p in examples.prefixes),
    )


UCI_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
)


def _read_frame(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise EvaluationInputError(f"cannot read events {path}: {error}") from None


def _online_retail(frame: pd.DataFrame) -> EventLog:
    # The cleaning rules are the import adapter's, so the harness learns from the same sales the
    # store holds. Imported here: the collect package is only needed for this layout.
    from shopwise.collect.adapters.uci import customer_ids, sale_lines, stock_codes

    sales = frame.loc[sale_lines(frame)].copy()
    sales["StockCode"] = stock_codes(sales["StockCode"])
    sales = sales.sort_values("InvoiceDate", kind="stable")
    codes = tuple(pd.unique(sales["StockCode"]))
    items = ItemIndex(codes)
    grouped = sales.groupby("StockCode", sort=False)
    titles = grouped["Description"].agg(
        lambda s: s.dropna().mode().iloc[0] if s.notna().any() else ""
    )
    prices = grouped["UnitPrice"].median()
    content = ItemContent(
        texts=[str(titles.get(code, "")) for code in codes],
        categories=[[] for _ in codes],
        brands=["" for _ in codes],
        prices=np.asarray([prices.get(code, np.nan) for code in codes], dtype=np.float32),
    )
    events = pd.DataFrame(
        {
            Columns.USER: customer_ids(sales["CustomerID"]).to_numpy(),
            Columns.ITEM: items.encode(list(sales["StockCode"])),
            Columns.TIME: pd.to_datetime(sales["InvoiceDate"]).to_numpy(),
            Columns.QUANTITY: sales["Quantity"].to_numpy(),
        }
    )
    return EventLog(events=events, items=items, content=content)


def _generic_events(frame: pd.DataFrame, path: Path) -> EventLog:
    needed = (Columns.USER, Columns.ITEM, Columns.TIME)
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        raise EvaluationInputError(
            f"{path}: missing columns {missing}; expected {list(needed)} or the UCI retail columns"
        )
    frame = frame.dropna(subset=list(needed)).copy()
    try:
        frame[Columns.TIME] = pd.to_datetime(frame[Columns.TIME])
    except (ValueError, TypeError) as error:
        raise EvaluationInputError(f"{path}: unreadable timestamps: {error}") from None
    frame = frame.sort_values(Columns.TIME, kind="stable")
    raw_items = frame[Columns.ITEM].astype(str)
    items = ItemIndex(tuple(pd.unique(raw_items)))
    events = pd.DataFrame(
        {
            Columns.USER: frame[Columns.USER].astype(str).to_numpy(),
            Columns.ITEM: items.encode(list(raw_items)),
            Columns.TIME: frame[Columns.TIME].to_numpy(),
        }
    )
    return EventLog(events=events, items=items, content=None)


def read_events(path: Path) -> EventLog:
    """Read an event log for the temporal protocol.

    The UCI Online Retail layout is recognised by its columns and cleaned with the import
    adapter's rules (:func:`shopwise.collect.adapters.uci.sale_lines`): cancellations (``C``
    invoices), lines without a CustomerID and non-positive quantities or prices are dropped,
    items are normalised StockCodes, and each product's most common Description and median
    UnitPrice become its :class:`ItemContent`. Any other CSV or parquet needs ``user_id``,
    ``product_id`` and ``timestamp`` columns.

    Parameters
    ----------
    path
        A ``.parquet`` or ``.csv`` file.

    Returns
    -------
    EventLog
        Events sorted by time with integer item indices.
    """
    frame = _read_frame(path)
    if all(column in frame.columns for column in UCI_COLUMNS):
        log = _online_retail(frame)
    else:
        log = _generic_events(frame, path)
    if log.events.empty:
        raise EvaluationInputError(f"{path}: no usable events")
    return log
