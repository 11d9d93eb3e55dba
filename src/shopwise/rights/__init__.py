"""Data subject rights: a person's export and erasure, with a status, verified and audited.

:class:`SubjectRights` answers exports and runs erasures that reach every table, every model
artifact and every cache of every process (:mod:`._erasure` for what is removed and searched).
"""

from shopwise.rights._erasure import (
    Verification,
    erase_rows,
    scrub_artifacts,
    unit_ids,
    verify,
)
from shopwise.rights._export import EXPORT_FORMAT, export_person
from shopwise.rights._person import Person, find_person
from shopwise.rights._service import (
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    VERIFIED,
    SubjectRights,
)

__all__ = [
    "COMPLETED",
    "EXPORT_FORMAT",
    "FAILED",
    "PENDING",
    "RUNNING",
    "VERIFIED",
    "Person",
    "SubjectRights",
    "Verification",
    "erase_rows",
    "export_person",
    "find_person",
    "scrub_artifacts",
    "unit_ids",
    "verify",
]
