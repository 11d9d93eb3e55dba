"""Record files (JSONL, CSV, Parquet) as dicts, for bulk imports of events and catalogs.

CSV and Parquet hold one column per field; the named JSON columns hold JSON text (or, in Parquet,
nested values). Empty cells mean the field is absent. A line that is not JSON comes out as a record
that validation rejects, so a bad line is reported, never silently dropped.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, Final

import orjson
import pyarrow.parquet as pq

from shopwise.errors import InvalidInput

FORMATS: Final = (".jsonl", ".ndjson", ".csv", ".parquet")


def _from_cells(record: dict[str, Any], json_columns: Collection[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in record.items():
        if value is None or value == "":
            continue
        if name in json_columns and isinstance(value, str):
            # unparseable JSON stays text: validation then rejects it, naming the field
            with contextlib.suppress(orjson.JSONDecodeError):
                value = orjson.loads(value)
        result[name] = value
    return result


def _jsonl(path: Path, _json_columns: Collection[str]) -> Iterator[Any]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                yield {"_unparseable_line": number, "text": line.decode(errors="replace")[:2000]}


def _csv(path: Path, json_columns: Collection[str]) -> Iterator[Any]:
    with path.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            yield _from_cells(record, json_columns)


def _parquet(path: Path, json_columns: Collection[str]) -> Iterator[Any]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1000):
        for record in batch.to_pylist():
            yield _from_cells(record, json_columns)


_READERS: Final[dict[str, Callable[[Path, Collection[str]], Iterator[Any]]]] = {
    ".jsonl": _jsonl,
    ".ndjson": _jsonl,
    ".csv": _csv,
    ".parquet": _parquet,
}


def read_records(path: Path, json_columns: Collection[str] = ()) -> Iterator[Any]:
    """Records of ``path`` by its extension; :class:`InvalidInput` for a missing or odd file."""
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise InvalidInput(f"FILE: unsupported format {path.suffix!r}; use {', '.join(FORMATS)}")
    if not path.is_file():
        raise InvalidInput(f"FILE: {path} does not exist")
    return reader(path, json_columns)


def count_records(path: Path) -> int:
    """How many records ``path`` holds (for progress bars)."""
    if path.suffix.lower() == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as handle:
        lines = sum(1 for line in handle if line.strip())
    return lines - 1 if path.suffix.lower() == ".csv" else lines
