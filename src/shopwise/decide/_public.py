"""Reason codes: what each one means, and how a browser may see it.

:data:`REASON_CODES` is the table of every reason code serving can put on an item or a content
block (a part in angle brackets stands for a name), with its meaning; the README shows the same
table and a test keeps the two equal.

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

SAME_CATEGORY: Final = "fallback:same_category"
PARENT_CATEGORY: Final = "fallback:parent_category"
DEPARTMENT: Final = "fallback:department"
POPULAR_FILL: Final = "fallback:popular"
"""The levels of an item-to-item list's category walk, narrowest first."""

POPULAR_OVERALL: Final = "popular"
TRENDING: Final = "trending"
POPULAR_IN_CATEGORY: Final = "popular_in_category"
"""Followed by ``:`` and the category name."""
NEWEST: Final = "newest"

REASON_CODES: Final = {
    "session:<model>": "the named model ranked it on the shopper's history and fresh session "
    "events",
    "precomputed:<model>": "the worker's precomputed list for the shopper's profile, from the "
    "named model",
    "similar:learned": (
        "the learned similar-items ranker's neighbours of the product (a LightGBM ranker over "
        "the co-viewed, co-bought, EASE and content sources, which weighs the shared category "
        "itself), in its order"
    ),
    "similar:co-viewed": (
        "viewed right before or after the product by other shoppers (the transition model, "
        "both ways), when the training run could not learn the ranker (too little data); the "
        "product's own leaf category first, then its department, then the rest"
    ),
    "similar:content": (
        "close in content (text, category and brand) to the product, in its department: after "
        "the learned or co-viewed products, and all a product the model never saw has"
    ),
    "complementary:co-visited": (
        "bought or viewed by the same shoppers as the product (EASE item-to-item, else the "
        "transition model), from another leaf category"
    ),
    SAME_CATEGORY: "item-to-item fill: popular in the product's own leaf category",
    PARENT_CATEGORY: "item-to-item fill: popular in a parent category of the product's",
    DEPARTMENT: "item-to-item fill: popular in the product's department (top-level category)",
    POPULAR_FILL: "item-to-item fill: popular in the whole catalog",
    POPULAR_OVERALL: "popular overall (all training events, time-decayed): a shopper with no "
    "history, or the fallback rule",
    TRENDING: "popular over the last days (a short half-life): the fallback rule's `trending` "
    "source",
    f"{POPULAR_IN_CATEGORY}:<category>": "popular in the request's `category` (or the shopper's "
    "top category): the fallback rule's `popular_in_category` source",
    NEWEST: "no model was ever trained: newest products (of the request's category first)",
    "boost:<rule>": "a boost rule raised its score",
    "bury:<rule>": "a bury rule lowered its score",
    "pin:<rule>": "a pin rule put it at its slot",
    "block:<name>": "content block: the block chosen for the slot",
    "experiment:<id>:<variant>": "content block or section: the shopper's experiment variant "
    "shows it (there)",
    "cart_abandoned": "content block: the shopper left a cart",
    "affinity:<category>": "content block: the shopper's top category",
    "segment:<name>": "content block: the shopper is in the segment or audience",
    "<score>>=<min>": "content block: the shopper's model score reached the threshold",
    "campaign:<utm_campaign>": "content block or section: the visit landed from the campaign",
    "source:<utm_source>": "content block or section: the visit landed from the source",
    "medium:<utm_medium>": "content block or section: the visit came through the medium",
    "referrer:<host>": "content block or section: the visit was referred by the site",
    "device:<device>": "content block or section: the visit is on the device class",
}
"""Every reason code (pattern) -> its meaning."""

_BY_PREFIX: Final = {
    "fallback": POPULAR,
    "popular": POPULAR,
    "popular_in_category": POPULAR,
    "trending": POPULAR,
    "newest": POPULAR,
    "pin": RULE,
    "boost": RULE,
    "bury": RULE,
    "filter": RULE,
    "diversify": RULE,
    "block": RULE,
    "experiment": RULE,
    "similar": RELATED,
    "complementary": RELATED,
    "campaign": RULE,
    "source": RULE,
    "medium": RULE,
    "referrer": RULE,
    "device": RULE,
}
"""The code's part before ``:`` -> its public reason; any other code (a model, a session, an
affinity, a segment, a threshold, an abandoned cart) is ``personalized``. Landing conditions
(campaign, source, medium, referrer, device) are the shop's targeting of what the browser itself
reported, so ``rule``."""


def public_reason(code: str) -> str:
    """The public reason of one reason code (see module docstring)."""
    return _BY_PREFIX.get(code.partition(":")[0], PERSONALIZED)


def public_reasons(codes: Sequence[str]) -> list[str]:
    """The public reasons of ``codes``, each once, in the order they first appear."""
    return list(dict.fromkeys(public_reason(code) for code in codes))
