"""Event collection: validation, minimization, dedupe, group commit, dead letters, sessions."""

from shopwise.collect._import import ImportSummary, import_events, read_events
from shopwise.collect._minimize import ALWAYS_KEPT, EVERY_TYPE, Minimizer, truncate_ip
from shopwise.collect._redis_sessions import RedisSessionizer, shared_sessionizer
from shopwise.collect._service import (
    CLAIMED,
    IDENTITY,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    UNVERIFIED_USER,
    VERIFIED,
    Clear,
    Collector,
    DeadLetter,
    DeadLetters,
    IdentityCheck,
    IngestResult,
    NoHashes,
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
    "CLAIMED",
    "EVERY_TYPE",
    "IDENTITY",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "MAX_EVENT_BYTES",
    "UNVERIFIED_USER",
    "VERIFIED",
    "Clear",
    "Collector",
    "DeadLetter",
    "DeadLetters",
    "GroupCommitWriter",
    "IdentityCheck",
    "ImportSummary",
    "IngestResult",
    "Minimizer",
    "NoHashes",
    "RedisSessionizer",
    "Rejection",
    "ReplayResult",
    "Sealer",
    "Sessionizer",
    "Suppressed",
    "WriteOutcome",
    "import_events",
    "parse_batch",
    "read_events",
    "shared_sessionizer",
    "system_row",
    "truncate_ip",
    "validate_event",
]
