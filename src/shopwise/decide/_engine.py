"""Applying a rule set to ranked candidates: filters, boosts, diversity, pins and fallbacks.

Order of application: filters drop products; boosts and buries rescale scores (scores are first
mapped to (0, 1] by rank so factors mean the same for every model); the list is re-sorted and
diversified; fallbacks fill it up when the model is missing or unsure; pins go in last, at their
slots. Every rule that changed the answer is named in the result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shopwise.catalog import Product
from shopwise.decide._context import ShopperContext
from shopwise.decide._rules import (
    BoostRule,
    DiversifyRule,
    FallbackRule,
    FilterRule,
    Match,
    PinRule,
    RuleSet,
)


@dataclass
class Candidate:
    """A product on its way to the answer, with the reasons it is there."""

    product_id: str
    score: float
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RuledList:
    items: list[Candidate]
    rules_fired: list[str]
    fallback: str | None


FallbackSource = Callable[[str, ShopperContext], Sequence[tuple[str, float]]]
"""Products (with scores) from a fallback source such as ``popular_in_category``."""


def _rank_scores(candidates: list[Candidate]) -> None:
    ordered = sorted(candidates, key=lambda c: -c.score)
    for rank, candidate in enumerate(ordered):
        candidate.score = 1.0 / (1.0 + 0.05 * rank)


class RuleEngine:
    """Stateless application of a :class:`RuleSet` (see module docstring)."""

    def __init__(self, catalog: Callable[[], Mapping[str, Product]], fallback: FallbackSource):
        self._catalog = catalog
        self._fallback = fallback
        self._memo = _MatchMemo()

    def apply(
        self,
        rules: RuleSet,
        candidates: Sequence[Candidate],
        ctx: ShopperContext,
        n: int,
        exclude: set[str] | None = None,
        model_ok: bool = True,
    ) -> RuledList:
        products = self._catalog()
        active = rules.active(ctx.placement, ctx.now)
        fired: list[str] = []
        matches = self._memo.for_request(products, ctx.now)
        filters = _Filters([r for r in active if isinstance(r, FilterRule)], ctx, matches)
        blocked = set(exclude or ())
        keep = self._filter(candidates, products, filters, blocked, fired)
        _rank_scores(keep)
        self._boost(keep, products, [r for r in active if isinstance(r, BoostRule)], matches, fired)
        keep.sort(key=lambda c: -c.score)
        diversify = next((r for r in active if isinstance(r, DiversifyRule)), None)
        if diversify is not None:
            keep = self._diversify(keep, products, diversify, n, fired)
        keep = keep[:n]
        fallback = next((r for r in active if isinstance(r, FallbackRule)), None)
        used = None
        if fallback is not None and _unsure(keep, candidates, fallback, model_ok):
            keep, used = self._fill(keep, products, filters, fallback, ctx, n, blocked, fired)
        pins = [r for r in active if isinstance(r, PinRule)]
        keep = self._pin(keep, products, pins, filters, n, blocked, fired)
        return RuledList(keep, fired, used)

    def _filter(
        self,
        candidates: Sequence[Candidate],
        products: Mapping[str, Product],
        filters: _Filters,
        blocked: set[str],
        fired: list[str],
    ) -> list[Candidate]:
        keep = []
        for candidate in candidates:
            product = products.get(candidate.product_id)
            if product is None or candidate.product_id in blocked:
                continue
            rule = filters.blocking(product)
            if rule is not None:
                _fire(fired, rule.name)
                continue
            keep.append(Candidate(candidate.product_id, candidate.score, list(candidate.reasons)))
        return keep

    @staticmethod
    def _boost(
        keep: list[Candidate],
        products: Mapping[str, Product],
        boosts: list[BoostRule],
        matches: _Matches,
        fired: list[str],
    ) -> None:
        for rule in boosts:
            for candidate in keep:
                if matches(rule.match, products[candidate.product_id]):
                    candidate.score *= rule.factor
                    candidate.reasons.append(f"{rule.type}:{rule.name}")
                    _fire(fired, rule.name)

    @staticmethod
    def _diversify(
        keep: list[Candidate],
        products: Mapping[str, Product],
        rule: DiversifyRule,
        n: int,
        fired: list[str],
    ) -> list[Candidate]:
        if rule.max_per_category is not None:
            chosen, counts = [], dict[str, int]()
            for candidate in keep:
                leaf = _leaf(products[candidate.product_id])
                if counts.get(leaf, 0) < rule.max_per_category:
                    counts[leaf] = counts.get(leaf, 0) + 1
                    chosen.append(candidate)
        else:
            assert rule.mmr_lambda is not None
            chosen = _mmr(keep, products, rule.mmr_lambda, n)
        if [c.product_id for c in chosen[:n]] != [c.product_id for c in keep[:n]]:
            _fire(fired, rule.name)
        return chosen

    def _fill(
        self,
        keep: list[Candidate],
        products: Mapping[str, Product],
        filters: _Filters,
        rule: FallbackRule,
        ctx: ShopperContext,
        n: int,
        blocked: set[str],
        fired: list[str],
    ) -> tuple[list[Candidate], str | None]:
        present = {c.product_id for c in keep} | blocked
        added = 0
        for product_id, score in self._fallback(rule.source, ctx):
            if len(keep) >= n:
                break
            product = products.get(product_id)
            if product is None or product_id in present or filters.blocking(product):
                continue
            keep.append(Candidate(product_id, min(score, 1e-3), [f"fallback:{rule.source}"]))
            present.add(product_id)
            added += 1
        if added:
            _fire(fired, rule.name)
            return keep, rule.source
        return keep, None

    @staticmethod
    def _pin(
        keep: list[Candidate],
        products: Mapping[str, Product],
        pins: list[PinRule],
        filters: _Filters,
        n: int,
        blocked: set[str],
        fired: list[str],
    ) -> list[Candidate]:
        for rule in sorted(pins, key=lambda r: r.slot):
            product = products.get(rule.product_id)
            if product is None or rule.product_id in blocked or filters.blocking(product):
                continue
            keep = [c for c in keep if c.product_id != rule.product_id]
            keep.insert(
                min(rule.slot, len(keep)), Candidate(rule.product_id, 1.0, [f"pin:{rule.name}"])
            )
            _fire(fired, rule.name)
        return keep[:n]


def _unsure(
    keep: list[Candidate], candidates: Sequence[Candidate], rule: FallbackRule, model_ok: bool
) -> bool:
    if not model_ok or len(keep) < max(rule.min_items, 1):
        return True
    top = max((c.score for c in candidates), default=None)
    return rule.min_score is not None and (top is None or top < rule.min_score)


_Matches = Callable[[Match, Product], bool]


class _MatchMemo:
    """Remembers which products each rule condition selects.

    Valid for one catalog snapshot and one minute (conditions such as "new within 14 days" move
    with time), so a request costs a dictionary lookup per candidate and rule, not a evaluation.
    The memo holds the :class:`Match` objects it saw, so their ids cannot be reused meanwhile.
    """

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._seen: dict[int, tuple[Match, dict[str, bool]]] = {}
        self._lock = threading.Lock()

    def for_request(self, products: Mapping[str, Product], now: datetime) -> _Matches:
        key = (id(products), int(now.timestamp() // 60))
        with self._lock:
            if key != self._key:
                self._key, self._seen = key, {}
            seen = self._seen

        def matches(match: Match, product: Product) -> bool:
            entry = seen.get(id(match))
            if entry is None or entry[0] is not match:
                entry = (match, {})
                seen[id(match)] = entry
            known = entry[1].get(product.id)
            if known is None:
                known = entry[1][product.id] = match.matches(product, now)
            return known

        return matches


class _Filters:
    """The active filter rules of one request, with the shopper's purchases looked up once."""

    def __init__(self, rules: list[FilterRule], ctx: ShopperContext, matches: _Matches) -> None:
        self.rules = rules
        self.matches = matches
        self.bought = {
            rule.name: ctx.purchased_since(
                int((ctx.now - timedelta(days=rule.purchased_within_days)).timestamp() * 1000)
            )
            for rule in rules
            if rule.purchased_within_days is not None
        }

    def blocking(self, product: Product) -> FilterRule | None:
        """The first rule that removes ``product``, or ``None``."""
        for rule in self.rules:
            if rule.exclude is not None and self.matches(rule.exclude, product):
                return rule
            if product.id in self.bought.get(rule.name, ()):
                return rule
        return None


def _fire(fired: list[str], name: str) -> None:
    if name not in fired:
        fired.append(name)


def _leaf(product: Product) -> str:
    return " > ".join(product.category) or "(none)"


def _similarity(a: Product, b: Product) -> float:
    """Shared leading category levels, as a fraction of the deeper path (0..1)."""
    depth = max(len(a.category), len(b.category), 1)
    shared = 0
    for x, y in zip(a.category, b.category, strict=False):
        if x != y:
            break
        shared += 1
    return shared / depth


def _mmr(
    keep: list[Candidate], products: Mapping[str, Product], lam: float, n: int
) -> list[Candidate]:
    """Maximal marginal relevance: relevance against similarity to what is already chosen."""
    pool = list(keep)
    chosen: list[Candidate] = []
    while pool and len(chosen) < n:

        def gain(c: Candidate) -> float:
            sim = max(
                (_similarity(products[c.product_id], products[s.product_id]) for s in chosen),
                default=0.0,
            )
            return lam * c.score - (1 - lam) * sim

        best = max(pool, key=gain)
        pool.remove(best)
        chosen.append(best)
    return chosen + pool
