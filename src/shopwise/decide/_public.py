"""Reason codes as a browser may see them.

Full reason codes explain a decision to the shop: which model or rule placed an item, and which
audience condition or score threshold (``purchase_7d>=0.8``, ``cart_abandoned``) chose a block.
An answer to a write key is read by whoever holds the browser, so it carries coarse public
reasons instead, which reveal no score, threshold, segment or cart state:
``personalized`` (from the shopper's own behaviour or scores), ``popular`` (a popularity
fallback), ``rule`` (a merchandising rule or content block of the shop) and ``related`` (like or
goes with a product). Secret keys still see the full codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

PERSONALIZED: Final = "personalized"
POPULAR: Final = "popular"
RULE: Final = "rule"
RELATED: Final = "related"
PUBLIC_REASONS: Final = (PERSONALIZED, POPULAR, RULE, RELATED)

_BY_PREFIX: Final = {
    "fallback": POPULAR,
    "popular": POPULAR,
    "trending": POPULAR,
    "pin": RULE,
    "boost": RULE,
    "bury": RULE,
    "filter": RULE,
    "diversify": RULE,
    "block": RULE,
    "similar": RELATED,
    "complementary": RELATED,
}
"""The code's part before ``:`` -> its public reason; any other code (a model, a session, an
affinity, a segment, a threshold, an abandoned cart) is ``personalized``."""


def public_reason(code: str) -> str:
    """The public reason of one reason code (see module docstring)."""
    return _BY_PREFIX.get(code.partition(":")[0], PERSONALIZED)


def public_reasons(codes: Sequence[str]) -> list[str]:
    """The public reasons of ``codes``, each once, in the order they first appear."""
    return list(dict.fromkeys(public_reason(code) for code in codes))
