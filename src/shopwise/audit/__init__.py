"""The audit log: an append-only, hash-chained record of who read personal data and who changed
what matters to privacy and operations (consent, erasures, rules, API keys). Each entry's SHA-256
covers its fields and the previous entry's hash, so an edit or a deletion in the middle shows when
the chain is verified (``shopwise audit verify``); entries deleted from the end show only against
a head kept outside the store. Appends are serialised across threads and processes by the store's
own locks, so the chain never forks. Entries carry ids, never personal data values or secrets:
nothing can be erased from the log without breaking it.
"""

from shopwise.audit._chain import GENESIS_HASH, AuditEntry, ChainHead, entry_hash
from shopwise.audit._log import AuditLog
from shopwise.audit._verify import ChainReport

__all__ = ["GENESIS_HASH", "AuditEntry", "AuditLog", "ChainHead", "ChainReport", "entry_hash"]
