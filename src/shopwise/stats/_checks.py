"""Argument checks shared by the statistics engine; each refusal is an ``InvalidInput`` naming
the argument at fault, so an API built on the engine can answer 400 with the field."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from shopwise.errors import InvalidInput

MIN_UNITS_PER_ARM = 10
"""The smallest arm the engine analyses. Every test here leans on a normal approximation or a
sample variance; below this the answer would look precise and mean nothing, so it is refused."""


def refuse(field: str, message: str) -> InvalidInput:
    """An ``InvalidInput`` whose details name ``field``."""
    return InvalidInput(f"{field}: {message}", details=[{"field": field, "message": message}])


def arm_size(field: str, n: int) -> int:
    """``n`` as the size of an arm, refused below :data:`MIN_UNITS_PER_ARM`."""
    if n < MIN_UNITS_PER_ARM:
        raise refuse(field, f"{n} units is too few to analyse (at least {MIN_UNITS_PER_ARM})")
    return int(n)


def conversions(field: str, count: int, n: int) -> int:
    """A count of converted units, between 0 and the arm's size."""
    if not 0 <= count <= n:
        raise refuse(field, f"{count} conversions is outside 0..{n}")
    return int(count)


def sample(field: str, values: ArrayLike) -> NDArray[np.float64]:
    """One arm's per-unit values as a finite 1-D float array of at least the minimum size."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise refuse(field, "must be a one-dimensional sequence of numbers")
    if not np.all(np.isfinite(array)):
        raise refuse(field, "holds a missing or infinite value")
    arm_size(field, array.size)
    return array


def open_unit(field: str, value: float) -> float:
    """A probability strictly between 0 and 1 (a significance level, a power, a rate)."""
    if not 0.0 < value < 1.0 or math.isnan(value):
        raise refuse(field, f"{value} is not strictly between 0 and 1")
    return float(value)


def positive(field: str, value: float) -> float:
    """A finite number above zero."""
    if not (math.isfinite(value) and value > 0.0):
        raise refuse(field, f"{value} is not a finite number above zero")
    return float(value)


def seed_generator(seed: int | np.random.Generator) -> np.random.Generator:
    """The random source of a Monte Carlo or bootstrap: a seed or a caller's generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
