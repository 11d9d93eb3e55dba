"""Checking the chain: each entry's hash against its fields, each link against the entry before.

What the links can and cannot show. Editing any field of an entry changes its recomputed hash
(``hash mismatch``); rewriting its stored hash to match breaks the link from the entry after it;
deleting an entry breaks the link from the entry after it (``broken link``). Entries deleted from
the end leave no broken link, and neither does a suffix recomputed by someone with write access to
the store (the hash has no secret): only a head kept outside the store (:class:`ChainHead`, the
count and last hash printed by ``shopwise audit verify``) shows them, for the entries up to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shopwise.audit._chain import GENESIS_HASH, ChainHead

MAX_PROBLEMS = 100
"""Problems listed in a report; the rest are only counted (a bulk edit would list every entry)."""


@dataclass(frozen=True)
class ChainReport:
    """What :meth:`AuditLog.verify` found.

    Attributes
    ----------
    entries
        Entries read.
    ok
        Whether the chain is intact (and reaches the expected head, when one was given).
    problems
        The first :data:`MAX_PROBLEMS` problems, in chain order, each naming the entry id.
    problem_count
        Every problem found, listed or not.
    head
        The count and the hash of the last entry read (:data:`GENESIS_HASH` for an empty log):
        what to keep outside the store for the next verification.
    """

    entries: int
    ok: bool
    problems: list[str]
    problem_count: int
    head: ChainHead


class ChainWalk:
    """Checks entries one at a time in id order, so a log of any length streams through.

    Parameters
    ----------
    dense_ids
        Whether the store never skips an id (SQLite gives each new row one more than the largest;
        PostgreSQL's sequence moves on past rolled-back inserts). When dense, missing ids are a
        problem even where the links hold, which means the chain was recomputed after a deletion.
    expected
        A head recorded earlier; the entry at its position must still carry its hash.
    """

    def __init__(self, dense_ids: bool, expected: ChainHead | tuple[int, str] | None) -> None:
        self._dense_ids = dense_ids
        self._expected = ChainHead(*expected) if expected is not None else None
        self._count = 0
        self._last_id: int | None = None
        self._last_hash = GENESIS_HASH
        self._problems: list[str] = []
        self._problem_count = 0

    def check(self, entry_id: int, prev_hash: str, stored_hash: str, recomputed: str) -> None:
        """Check the next entry: its stored hash against the one ``recomputed`` from its fields
        (:func:`entry_hash`), its ``prev_hash`` against the hash of the entry before it."""
        self._count += 1
        if recomputed != stored_hash:
            self._problem(f"entry {entry_id}: hash mismatch (edited)")
        missing = self._missing_ids(entry_id)
        if prev_hash != self._last_hash:
            self._problem(
                f"entry {entry_id}: broken link (an entry before it was deleted or edited)"
                + self._where(missing)
            )
        elif missing and self._dense_ids:
            self._problem(
                f"entry {entry_id}: {missing} before it (deleted, and the chain recomputed from "
                "there)"
            )
        self._check_expected(entry_id, stored_hash)
        self._last_id, self._last_hash = entry_id, stored_hash

    def report(self) -> ChainReport:
        """The report once every entry has been checked."""
        expected = self._expected
        if expected is not None and self._count < expected.entries:
            self._problem(
                f"the log holds {self._count} entries, fewer than the expected head's "
                f"{expected.entries} ({expected.hash}): entries at its end were deleted"
            )
        return ChainReport(
            entries=self._count,
            ok=self._problem_count == 0,
            problems=list(self._problems),
            problem_count=self._problem_count,
            head=ChainHead(self._count, self._last_hash),
        )

    def _check_expected(self, entry_id: int, stored_hash: str) -> None:
        expected = self._expected
        if expected is None or self._count != expected.entries or stored_hash == expected.hash:
            return
        self._problem(
            f"entry {entry_id}: it is entry number {expected.entries} but not the expected head "
            f"{expected.hash} (entries up to it were deleted or rewritten)"
        )

    def _missing_ids(self, entry_id: int) -> str:
        """The ids between the previous entry and this one, in words; empty if none."""
        first = 1 if self._last_id is None else self._last_id + 1
        if entry_id <= first:
            return ""
        if entry_id == first + 1:
            return f"id {first} is missing"
        return f"ids {first}-{entry_id - 1} are missing"

    def _where(self, missing: str) -> str:
        if self._last_id is None:
            before = f" ({missing} before it)" if missing else ""
            return f"; it is the first entry left but does not start the chain{before}"
        if missing:
            return f"; {missing} before it"
        return f"; it does not follow entry {self._last_id}"

    def _problem(self, text: str) -> None:
        self._problem_count += 1
        if len(self._problems) < MAX_PROBLEMS:
            self._problems.append(text)
