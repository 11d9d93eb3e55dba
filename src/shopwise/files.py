"""Files and folders shopwise writes, readable by their owner only, whatever the umask.

The data directory holds the database (events, hashed ids, sealed PII), model artifacts (which
embed shoppers' ids), key files and exports: another local account must not read any of it. A
process's umask decides the mode of what ``open``/``mkdir`` create, and a permissive one (0 in
some containers) would leave them world-readable; so every path shopwise creates goes through this
module, which sets the mode explicitly after creating (``fchmod``/``chmod``), not through the umask.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Final, TextIO

PRIVATE_DIR: Final = 0o700
"""Mode of every folder shopwise creates."""
PRIVATE_FILE: Final = 0o600
"""Mode of every file shopwise creates."""


def private_dir(path: Path, *, claim: bool = True, exist_ok: bool = True) -> Path:
    """Make ``path`` a folder only its owner may list or enter, creating missing parents alike.

    Parameters
    ----------
    path
        The folder.
    claim
        Also restrict ``path`` when it already exists (a folder shopwise owns, such as the data
        directory); ``False`` leaves an existing folder as it is (the parent of a database file
        named by a URL may be anyone's, even ``/tmp``). Folders created here are always restricted.
    exist_ok
        ``False`` raises :class:`FileExistsError` when ``path`` exists (to take a new folder).

    Returns
    -------
    Path
        ``path``.
    """
    missing: list[Path] = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    if not missing and not exist_ok:
        raise FileExistsError(path)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            if folder == path and not exist_ok:
                raise
            continue  # another process made it first: restrict it all the same
        folder.chmod(PRIVATE_DIR)
    if claim or missing:
        path.chmod(PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty when it is missing (never truncating it) and restrict it to its owner.

    For files another library then opens by name: SQLite creates its ``-wal`` and ``-shm`` files
    with the database file's mode, so a database made here keeps all three private.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return path


def restrict(*paths: Path) -> None:
    """Restrict those of ``paths`` that exist to their owner (files written before this rule)."""
    for path in paths:
        try:
            path.chmod(PRIVATE_FILE)
        except FileNotFoundError:
            continue


def _created(path: Path) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # the umask may have taken bits off, and the file may be old
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private(path: Path) -> BinaryIO:
    """``path`` opened to write bytes (created or truncated), readable by its owner only."""
    return os.fdopen(_created(path), "wb")


def open_private_text(path: Path) -> TextIO:
    """``path`` opened to write UTF-8 text (created or truncated), readable by its owner only."""
    return os.fdopen(_created(path), "w", encoding="utf-8", newline="")


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (see :func:`open_private`)."""
    with open_private(path) as handle:
        handle.write(data)
