"""Distinct counts that merge: a HyperLogLog sketch of a set of strings.

An hour's distinct visitors and items are exact in its own row, but a day's cannot be summed from
its hours (a shopper seen in two hours is one visitor). Each hour row keeps a sketch of its
members instead, and the day's counts are estimated from the merge of its hours' sketches, so the
KPI job never reads a whole day's answers again to count them. A sketch holds one small register
per bucket of hashed members and, while it is small, the members' 64-bit hashes: nobody can be
listed from it, but whoever knows a member can test for its hash, so erasure takes a person's
hashes out (:meth:`Sketch.discard`).

Estimates use Ertl's improved estimator ("New cardinality estimation algorithms for HyperLogLog
sketches", 2017), which needs no bias tables, and small ones by linear counting.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Iterable
from typing import Final

import numpy as np

PRECISION: Final = 12
"""Bits of the hash that pick a register: 2**12 registers (``docs/performance.md`` gives the
relative error)."""
EXACT_LIMIT: Final = 256
"""Distinct members up to which a sketch keeps their hashes and counts exactly."""
LINEAR_LIMIT: Final = 3100
"""Below this, sets are counted from the empty registers (linear counting), which is closer
there; the limit for 2**12 registers is Heule, Nunkesser and Hall's (HyperLogLog++, 2013)."""
_REGISTERS: Final = 1 << PRECISION
_RANK_BITS: Final = 64 - PRECISION


class Sketch:
    """A HyperLogLog sketch: :meth:`add` members, :meth:`merge` sketches, :meth:`count` them.

    While it has seen at most :data:`EXACT_LIMIT` distinct members it also keeps their 64-bit
    hashes and counts those, exactly (as HyperLogLog++'s sparse form does); beyond, the
    registers alone.
    """

    def __init__(self, registers: np.ndarray | None = None, hashes: set[int] | None = None) -> None:
        self.registers = np.zeros(_REGISTERS, np.uint8) if registers is None else registers
        self.hashes: set[int] | None = set() if registers is None else hashes

    @classmethod
    def of(cls, members: Iterable[str]) -> Sketch:
        sketch = cls()
        for member in members:
            sketch.add(member)
        return sketch

    @classmethod
    def from_bytes(cls, data: bytes) -> Sketch:
        raw = zlib.decompress(data)
        registers = np.frombuffer(raw[:_REGISTERS], np.uint8).copy()
        if registers.size != _REGISTERS or (len(raw) - _REGISTERS) % 8:
            raise ValueError(f"a sketch has {_REGISTERS} registers and 8-byte hashes")
        hashes = np.frombuffer(raw[_REGISTERS:], ">u8")
        exact = hashes.size > 0 or not registers.any()
        return cls(registers, {int(h) for h in hashes} if exact else None)

    def to_bytes(self) -> bytes:
        hashes = np.array(sorted(self.hashes or ()), ">u8")
        return zlib.compress(self.registers.tobytes() + hashes.tobytes())

    def add(self, member: str) -> None:
        hashed = _hash(member)
        self._register(hashed)
        if self.hashes is not None:
            self.hashes.add(hashed)
            self._bound()

    def _register(self, hashed: int) -> None:
        index = hashed >> _RANK_BITS
        rank = _RANK_BITS - (hashed & ((1 << _RANK_BITS) - 1)).bit_length() + 1
        if rank > self.registers[index]:
            self.registers[index] = rank

    def holds(self, member: str) -> bool:
        """Whether ``member``'s hash is kept (only a small sketch keeps hashes)."""
        return self.hashes is not None and _hash(member) in self.hashes

    def discard(self, members: Iterable[str]) -> int:
        """Take the hashes of ``members`` out of a small sketch, and the registers back to those
        of the members left, so no trace of them is kept; how many were taken out. A large
        sketch keeps no hash to take out, and its registers only the largest rank of many
        members each."""
        if self.hashes is None:
            return 0
        gone = self.hashes & {_hash(member) for member in members}
        if gone:
            self.hashes -= gone
            self.registers = np.zeros(_REGISTERS, np.uint8)
            for hashed in self.hashes:
                self._register(hashed)
        return len(gone)

    def merge(self, other: Sketch) -> None:
        """Make this the sketch of the union of both sets."""
        np.maximum(self.registers, other.registers, out=self.registers)
        if self.hashes is not None and other.hashes is not None:
            self.hashes |= other.hashes
            self._bound()
        else:
            self.hashes = None

    def count(self) -> int:
        """The number of distinct members added: exact while small, else estimated."""
        if self.hashes is not None:
            return len(self.hashes)
        histogram = np.bincount(self.registers, minlength=_RANK_BITS + 2)
        m = float(_REGISTERS)
        if histogram[0]:
            linear = m * math.log(m / histogram[0])
            if linear <= LINEAR_LIMIT:
                return round(linear)
        z = m * _tau(1.0 - histogram[_RANK_BITS + 1] / m)
        for rank in range(_RANK_BITS, 0, -1):
            z = 0.5 * (z + histogram[rank])
        z += m * _sigma(histogram[0] / m)
        return round(m * m / (2.0 * math.log(2.0)) / z)

    def _bound(self) -> None:
        if self.hashes is not None and len(self.hashes) > EXACT_LIMIT:
            self.hashes = None


def _hash(member: str) -> int:
    return int.from_bytes(hashlib.blake2b(member.encode(), digest_size=8).digest(), "big")


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if z == previous:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == previous:
            return z / 3.0
