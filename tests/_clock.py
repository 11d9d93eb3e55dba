"""A clock that tests move by hand, for code that takes a ``clock`` callable."""

from __future__ import annotations


class Clock:
    """Returns :attr:`now`, which only the test changes."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
