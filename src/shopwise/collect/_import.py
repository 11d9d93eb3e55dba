"""Bulk import of event files through the same validation and dedupe as the API."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from shopwise.collect._service import MAX_BATCH_EVENTS, Collector
from shopwise.collect._validate import Rejection
from shopwise.records import read_records

_JSON_COLUMNS = ("context", "properties")


@dataclass
class ImportSummary:
    """Totals of an import; ``examples`` keeps the first few rejections for display."""

    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    examples: list[Rejection] = field(default_factory=list)


def read_events(path: Path) -> Iterator[Any]:
    """Raw events from a JSONL, CSV or Parquet file (``context``/``properties`` as JSON)."""
    return read_records(path, _JSON_COLUMNS)


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
