"""Recent answers, reused while nothing they were computed from has changed.

A shopper who reloads a page, or whose pages ask for the same slot again, with no event in
between gets the same ranked list: the candidates, the rules and the catalog are the same
objects as last time. :class:`AnswerCache` keeps the answer (serving keeps it rendered) and hands
it back while every input is unchanged, so such a request costs a few comparisons instead of
fusing and ruling some hundred candidates (each answer still gets its own recommendation id and
exposure). Like Gorse's caches, but keyed on what the answer depends on rather than on a timer:

- the generation: the champion model, the precomputed lists, the live rule version and the rule
  engine's facts (the catalog snapshot, and the time until a condition such as "new within N
  days" turns for some product). When any of them is a different object, every entry is dropped, so
  old models and snapshots are not kept alive by the cache;
- per entry: the shopper's canonical profile id and served profile state (the profile cache
  swaps the state object whenever what serving reads of it changes), the shopper's recent events
  in this process, and which rules are active at this moment (rules with a start or end time).

Identity comparisons are safe because the cache holds the objects it compares. Entry inputs are
compared with ``==``, which a tuple answers by identity first, so an unchanged state object costs
no field comparison. Degraded answers (a failed profile read or model) are never stored. Erasure
must call :meth:`AnswerCache.clear` with the profile cache.

A replaced champion (model or precomputed lists) is handed to :meth:`AnswerCache.retire` by the
thread that swapped it out: the entries are dropped there, with the old generation (which holds
the old champion), so the first request after a swap neither pays for the flush nor for freeing
the old model. The answer of a request that read the old champion before the swap and finishes
after it is not stored: it would bring the old generation back.
"""

from __future__ import annotations

import operator
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

Generation = tuple[object, ...]
"""Objects compared by identity; a change drops every entry."""
Inputs = tuple[object, ...]
"""Per-entry inputs, compared with ``==``."""


class AnswerCache(Generic[T]):
    """Answers by request, valid for one generation and set of inputs."""

    def __init__(self, max_entries: int = 20_000) -> None:
        """``max_entries`` bounds memory; 0 turns the cache off."""
        if max_entries < 0:
            raise ValueError("max_entries must not be negative")
        self._max = max_entries
        self._generation: Generation = ()
        self._entries: OrderedDict[Hashable, tuple[Inputs, T]] = OrderedDict()
        self._retired: list[weakref.ref[object]] = []
        """Replaced champions still alive: a generation holding one is not stored again."""
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def requests(self) -> list[Hashable]:
        """The requests answers are kept for (to search them)."""
        with self._lock:
            return list(self._entries)

    def get(self, key: Hashable, generation: Generation, inputs: Inputs) -> T | None:
        with self._lock:
            if not _same(generation, self._generation):
                return None
            entry = self._entries.get(key)
            if entry is None or entry[0] != inputs:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, generation: Generation, inputs: Inputs, value: T) -> None:
        if self._max == 0:
            return
        with self._lock:
            if not _same(generation, self._generation):
                if self._holds_retired(generation):
                    return  # computed from a champion replaced meanwhile
                self._entries.clear()
                self._generation = generation
            self._entries[key] = (inputs, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every answer (an erasure among others: answers may hold a person's lists)."""
        with self._lock:
            self._entries.clear()
            self._generation = ()

    def retire(self, replaced: object) -> None:
        """Drop every answer computed from ``replaced``, a champion just swapped out (called by
        the thread that swapped it, see the module docstring); answers of other generations stay.
        """
        with self._lock:
            self._retired = [r for r in self._retired if r() is not None]
            self._retired.append(weakref.ref(replaced))
            if any(member is replaced for member in self._generation):
                self._entries.clear()
                self._generation = ()

    def _holds_retired(self, generation: Generation) -> bool:
        retired = [r() for r in self._retired]
        return any(member is old for member in generation for old in retired if old is not None)


def _same(a: Sequence[object], b: Sequence[object]) -> bool:
    return len(a) == len(b) and all(map(operator.is_, a, b))
