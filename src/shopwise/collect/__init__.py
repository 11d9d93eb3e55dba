"""Event collection: validation, minimization, dedupe, group commit, dead letters, sessions."""

from shopwise.collect._import import ImportSummary, import_events, read_events
from shopwise.collect._minimize import ALWAYS_KEPT, EVERY_TYPE, Minimizer, truncate_ip
from shopwise.collect._service import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    Clear,
    Collector,
    DeadLetter,
    DeadLetters,
    IngestResult,
    ReplayResult,
    Sealer,
    Suppressed,
    parse_batch,
)
from shopwise.collect._sessions import Sessionizer
from shopwise.collect._validate import MAX_EVENT_BYTES, Rejection, system_row, validate_event
from shopwise.collect._writer import GroupCommitWriter, WriteOutcome

__all__ = [
    "ALWAYS_KEPT",
    "EVERY_TYPE",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "MAX_EVENT_BYTES",
    "Clear",
    "Collector",
    "DeadLetter",
    "DeadLetters",
    "GroupCommitWriter",
    "ImportSummary",
    "IngestResult",
    "Minimizer",
    "Rejection",
    "ReplayResult",
    "Sealer",
    "Sessionizer",
    "Suppressed",
    "WriteOutcome",
    "import_events",
    "parse_batch",
    "read_events",
    "system_row",
    "truncate_ip",
    "validate_event",
]
