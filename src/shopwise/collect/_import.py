"""Bulk import of event files (JSONL, CSV, Parquet) through the same validation and dedupe.

CSV and Parquet files have one column per envelope field; ``context`` and ``properties`` hold JSON
text (or, in Parquet, nested structs). Empty cells mean the field is absent.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from shopwise.collect._service import MAX_BATCH_EVENTS, Collector
from shopwise.collect._validate import Rejection
from shopwise.errors import InvalidInput

_JSON_COLUMNS = ("context", "properties")
FORMATS = (".jsonl", ".ndjson", ".csv", ".parquet")


@dataclass
class ImportSummary:
    """Totals of an import; ``rejected`` keeps the first few reasons for display."""

    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    examples: list[Rejection] = field(default_factory=list)


def _from_cells(record: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for name, value in record.items():
        if value is None or value == "":
            continue
        if name in _JSON_COLUMNS and isinstance(value, str):
            # unparseable JSON stays text: validation then rejects it, naming the field
            with contextlib.suppress(orjson.JSONDecodeError):
                value = orjson.loads(value)
        event[name] = value
    return event


def _jsonl(path: Path) -> Iterator[Any]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                yield {"_unparseable_line": number, "text": line.decode(errors="replace")[:2000]}


def _csv(path: Path) -> Iterator[Any]:
    with path.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            yield _from_cells(record)


def _parquet(path: Path) -> Iterator[Any]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=MAX_BATCH_EVENTS):
        for record in batch.to_pylist():
            yield _from_cells(record)


def read_events(path: Path) -> Iterator[Any]:
    """Raw events from ``path``, by its extension (unreadable lines come out as invalid events)."""
    readers: dict[str, Callable[[Path], Iterator[Any]]] = {
        ".jsonl": _jsonl,
        ".ndjson": _jsonl,
        ".csv": _csv,
        ".parquet": _parquet,
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise InvalidInput(
            f"FILE: unsupported format {path.suffix!r}; use one of {', '.join(FORMATS)}"
        )
    if not path.is_file():
        raise InvalidInput(f"FILE: {path} does not exist")
    return reader(path)


def import_events(
    collector: Collector,
    events: Iterable[Any],
    on_batch: Callable[[int], None] | None = None,
    batch_size: int = MAX_BATCH_EVENTS,
) -> ImportSummary:
    """Ingest ``events`` in batches; ``on_batch`` is told how many events each batch held."""
    summary = ImportSummary()
    iterator = iter(events)
    while batch := list(islice(iterator, batch_size)):
        result = collector.ingest(batch)
        summary.read += len(batch)
        summary.accepted += result.accepted
        summary.duplicates += result.duplicates
        summary.rejected += len(result.rejected)
        summary.examples.extend(result.rejected[: max(0, 5 - len(summary.examples))])
        if on_batch is not None:
            on_batch(len(batch))
    return summary
