"""The decision module: business rules, content blocks, layouts; versioned and hot-reloaded."""

from shopwise.decide._content import Audience, ContentBlock, ContentSet, Section, Threshold
from shopwise.decide._context import ShopperContext
from shopwise.decide._engine import Candidate, FallbackSource, RuledList, RuleEngine
from shopwise.decide._public import PUBLIC_REASONS, public_reason, public_reasons
from shopwise.decide._rules import (
    BUILTIN_PLACEMENTS,
    BoostRule,
    DiversifyRule,
    FallbackRule,
    FilterRule,
    Match,
    PinRule,
    RuleSet,
    parse_yaml,
)
from shopwise.decide._versions import Versioned, VersionedStore, content_store, rule_store

__all__ = [
    "BUILTIN_PLACEMENTS",
    "PUBLIC_REASONS",
    "Audience",
    "BoostRule",
    "Candidate",
    "ContentBlock",
    "ContentSet",
    "DiversifyRule",
    "FallbackRule",
    "FallbackSource",
    "FilterRule",
    "Match",
    "PinRule",
    "RuleEngine",
    "RuleSet",
    "RuledList",
    "Section",
    "ShopperContext",
    "Threshold",
    "Versioned",
    "VersionedStore",
    "content_store",
    "parse_yaml",
    "public_reason",
    "public_reasons",
    "rule_store",
]
