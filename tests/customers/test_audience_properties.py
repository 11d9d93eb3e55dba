"""Invariants of rule evaluation (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from shopwise.customers.segments import Audience, Condition

values = st.lists(
    st.one_of(st.none(), st.floats(-100, 100, allow_nan=False)), min_size=1, max_size=30
)
ops = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])


def _frame(left: list[float | None], right: list[float | None]) -> pd.DataFrame:
    n = min(len(left), len(right))
    return pd.DataFrame(
        {"x": pd.Series(left[:n], dtype=float), "y": pd.Series(right[:n], dtype=float)}
    )


@settings(max_examples=60, deadline=None)
@given(left=values, right=values, first=ops, second=ops, threshold=st.floats(-50, 50))
def test_all_is_intersection_and_any_is_union(
    left: list[float | None], right: list[float | None], first: str, second: str, threshold: float
) -> None:
    frame = _frame(left, right)
    a = Condition(feature="x", op=first, value=threshold)  # type: ignore[arg-type]
    b = Condition(feature="x", op=second, other="y", missing_matches=True)  # type: ignore[arg-type]
    both = Audience(name="both", conditions=(a, b)).evaluate(frame)
    either = Audience(name="either", conditions=(a, b), match="any").evaluate(frame)
    assert both.equals(a.evaluate(frame) & b.evaluate(frame))
    assert either.equals(a.evaluate(frame) | b.evaluate(frame))
    assert (both <= either).all()


@settings(max_examples=60, deadline=None)
@given(left=values, threshold=st.floats(-50, 50))
def test_complementary_ops_split_the_known_values(
    left: list[float | None], threshold: float
) -> None:
    frame = _frame(left, left)
    below = Condition(feature="x", op="<", value=threshold).evaluate(frame)
    above = Condition(feature="x", op=">=", value=threshold).evaluate(frame)
    known = frame["x"].notna()
    assert not (below & above).any()
    assert ((below | above) == known).all()
    missing = Condition(feature="x", op="<", value=threshold, missing_matches=True)
    assert np.array_equal(missing.evaluate(frame).to_numpy(), (below | ~known).to_numpy())
