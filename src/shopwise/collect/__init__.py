"""Event collection: validation, dedupe, group commit, dead letters, sessionisation."""

from shopwise.collect._import import ImportSummary, import_events, read_events
from shopwise.collect._service import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    Collector,
    DeadLetter,
    DeadLetters,
    IngestResult,
    ReplayResult,
    Suppressed,
    parse_batch,
)
from shopwise.collect._sessions import Sessionizer
from shopwise.collect._validate import MAX_EVENT_BYTES, Rejection, system_row, validate_event
from shopwise.collect._writer import GroupCommitWriter, WriteOutcome

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "MAX_EVENT_BYTES",
    "Collector",
    "DeadLetter",
    "DeadLetters",
    "GroupCommitWriter",
    "ImportSummary",
    "IngestResult",
    "Rejection",
    "ReplayResult",
    "Sessionizer",
    "Suppressed",
    "WriteOutcome",
    "import_events",
    "parse_batch",
    "read_events",
    "system_row",
    "validate_event",
]
