"""Applying a rule set to ranked candidates: filters, boosts, diversity, pins and fallbacks.

Order of application: filters drop products; boosts and buries rescale scores (scores are first
mapped to (0, 1] by rank so factors mean the same for every model); the list is re-sorted and
diversified; fallbacks fill it up to ``n`` when the model is missing, short or unsure (under a
per-category cap, from other categories first: see :class:`_Cap`); pins go in last, at their
slots. Every rule that changed the answer is named in the result.

Item-to-item lists (similar and complementary products) are filled differently: the caller
hands over the ``fill`` items (the query product's category walk), which complete the list up
to ``n`` whatever the fallback rule says, for a product page slot must not come up short while
the catalog has products to show. Such a list may also leave out the per-category cap
(``capped=False``): a list of similar products is one category by definition, so the cap would
only cut it short. Filters still apply to every fill item, and pins still go last.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter

from shopwise.catalog import Product
from shopwise.decide._context import ShopperContext
from shopwise.decide._rules import (
    BoostRule,
    DiversifyRule,
    FallbackRule,
    FilterRule,
    PinRule,
    Rule,
    RuleSet,
)


@dataclass(slots=True)
class Candidate:
    """A product on its way to the answer, with the reasons it is there.

    The engine never changes a ``reasons`` list in place (it rebinds a new one), so lists may be
    shared between candidates.
    """

    product_id: str
    score: float
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RuledList:
    items: list[Candidate]
    rules_fired: list[str]
    fallback: str | None


Filler = Iterable[tuple[str, float, str]]
"""Products to fill a list with, best first: (product id, score, reason code)."""

FallbackSource = Callable[[str, ShopperContext], Filler]
"""The products of a fallback rule's source (such as ``popular_in_category``) for a request,
each with the reason code that says what it is."""

CATEGORY_WALK = "category_walk"
"""The ``fallback`` of an item-to-item list that its ``fill`` items completed."""


_SCORE = attrgetter("score")


def _rank_scores(candidates: list[Candidate]) -> None:
    ordered = sorted(candidates, key=_SCORE, reverse=True)  # stable, like key=-score
    for rank, candidate in enumerate(ordered):
        candidate.score = 1.0 / (1.0 + 0.05 * rank)


class RuleEngine:
    """Stateless application of a :class:`RuleSet` (see module docstring)."""

    def __init__(self, catalog: Callable[[], Mapping[str, Product]], fallback: FallbackSource):
        self._catalog = catalog
        self._fallback = fallback
        self._memo = _Memo()

    def inputs(
        self, rules: RuleSet, placement: str, now: datetime
    ) -> tuple[object, tuple[int, ...]]:
        """What an answer depends on besides its candidates and shopper: the facts object of
        (rule set, catalog snapshot, time until a condition turns), and which of the rules are
        active on ``placement`` at ``now``.

        Two requests with the same candidates, shopper and inputs get the same answer, so a
        caller may reuse it (the serving answer cache). The facts object holds the rule set, so
        the rule ids stay valid while it is kept.
        """
        facts = self._memo.for_request(rules, self._catalog(), now)
        return facts, facts.active(placement, now)[1]

    def apply(
        self,
        rules: RuleSet,
        candidates: Sequence[Candidate],
        ctx: ShopperContext,
        n: int,
        exclude: set[str] | None = None,
        model_ok: bool = True,
        owned: bool = False,
        fill: Filler | None = None,
        capped: bool = True,
    ) -> RuledList:
        """The answer for ``ctx``: at most ``n`` of ``candidates`` (best first) after the rules.

        ``owned``: the caller hands the candidates over (fresh objects it will not read again),
        so the engine rescores them in place instead of copying them first. ``fill``: an
        item-to-item list's fill items, used instead of the fallback rule to complete the list
        up to ``n``; ``capped``: whether a ``max_per_category`` diversity rule applies (see the
        module docstring).
        """
        products = self._catalog()
        fired: list[str] = []
        facts = self._memo.for_request(rules, products, ctx.now)
        active = facts.active(ctx.placement, ctx.now)[0]
        filters = _Filters([r for r in active if isinstance(r, FilterRule)], ctx, facts)
        blocked = set(exclude or ())
        fallback = next((r for r in active if isinstance(r, FallbackRule)), None)
        top = None  # the model's best score, before any rescoring
        if fallback is not None and fallback.min_score is not None:
            top = max((c.score for c in candidates), default=None)
        keep = self._filter(candidates, products, filters, blocked, fired, owned)
        _rank_scores(keep)
        self._boost(keep, [r for r in active if isinstance(r, BoostRule)], facts, fired)
        keep.sort(key=_SCORE, reverse=True)
        diversify = next((r for r in active if isinstance(r, DiversifyRule)), None)
        held: list[Candidate] = []  # the model's items the per-category cap held back
        if diversify is not None and (capped or diversify.max_per_category is None):
            keep, held = self._diversify(keep, products, diversify, n, facts, fired)
        keep = keep[:n]
        used = None
        if fill is not None:
            if _fill(keep, products, filters, fill, n, blocked):
                used = CATEGORY_WALK
        elif fallback is not None and _unsure(keep, top, fallback, model_ok, n):
            items = self._fallback(fallback.source, ctx)
            cap = None
            if diversify is not None and diversify.max_per_category is not None and capped:
                cap = _Cap(diversify.max_per_category, keep, held, facts, n)
            if _fill(keep, products, filters, items, n, blocked, cap):
                _fire(fired, fallback.name)
                used = fallback.source
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
        owned: bool,
    ) -> list[Candidate]:
        """The candidates in the catalog, not ``blocked`` and not filtered (copied unless
        ``owned``)."""
        keep: list[Candidate] = []
        known, missing, last = filters.known, filters.MISSING, len(filters.rules)
        bought = filters.bought
        for candidate in candidates:
            product_id = candidate.product_id
            if product_id in blocked:
                continue
            position = known.get(product_id)
            if position is None:
                position = filters.first(products.get(product_id), product_id)
            if position == missing:
                continue
            if bought:
                position = filters.first_with_purchases(product_id, position)
            if position != last:
                _fire(fired, filters.rules[position].name)
                continue
            if not owned:
                candidate = Candidate(product_id, candidate.score, candidate.reasons)
            keep.append(candidate)
        return keep

    @staticmethod
    def _boost(
        keep: list[Candidate], boosts: list[BoostRule], facts: _Facts, fired: list[str]
    ) -> None:
        if not boosts:
            return
        known, matching = facts.matching(boosts)
        tags = [f"{rule.type}:{rule.name}" for rule in boosts]
        used: set[int] = set()
        for candidate in keep:
            found = known.get(candidate.product_id)
            if found is None:
                found = matching(candidate.product_id)
            for position in found:
                candidate.score *= boosts[position].factor
                candidate.reasons = [*candidate.reasons, tags[position]]
                used.add(position)
        for position in sorted(used):
            _fire(fired, boosts[position].name)

    @staticmethod
    def _diversify(
        keep: list[Candidate],
        products: Mapping[str, Product],
        rule: DiversifyRule,
        n: int,
        facts: _Facts,
        fired: list[str],
    ) -> tuple[list[Candidate], list[Candidate]]:
        """The diversified list, and the items a per-category cap held back (in order)."""
        held: list[Candidate] = []
        if rule.max_per_category is not None:
            chosen, counts = [], dict[str, int]()
            for candidate in keep:
                leaf = facts.leaf(candidate.product_id)
                if counts.get(leaf, 0) < rule.max_per_category:
                    counts[leaf] = counts.get(leaf, 0) + 1
                    chosen.append(candidate)
                    if len(chosen) == n:  # the caller keeps the first n
                        break
                else:
                    held.append(candidate)
        else:
            assert rule.mmr_lambda is not None
            chosen = _mmr(keep, products, rule.mmr_lambda, n)
        if [c.product_id for c in chosen[:n]] != [c.product_id for c in keep[:n]]:
            _fire(fired, rule.name)
        return chosen, held

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


class _Cap:
    """A per-category cap while the fallback fills a list: the fill takes other categories first.

    Fill items of a category at the cap wait (:attr:`spare`, at most as many as the list can
    take) behind the model's items the cap held back; the list takes them, in that order, only
    when the fill ran out of other categories, for ``n`` items beat a cap kept at any price.
    """

    def __init__(
        self, limit: int, keep: list[Candidate], held: list[Candidate], facts: _Facts, n: int
    ) -> None:
        self._limit = limit
        self._facts = facts
        self._counts = Counter(facts.leaf(c.product_id) for c in keep)
        self._room = n - len(keep)
        self.held = held
        self.spare: list[Candidate] = []

    def admits(self, candidate: Candidate) -> bool:
        """Whether ``candidate``'s category has room (counted in if so, kept spare if not)."""
        leaf = self._facts.leaf(candidate.product_id)
        if self._counts[leaf] < self._limit:
            self._counts[leaf] += 1
            return True
        if len(self.spare) < self._room:
            self.spare.append(candidate)
        return False


def _fill(
    keep: list[Candidate],
    products: Mapping[str, Product],
    filters: _Filters,
    items: Filler,
    n: int,
    blocked: set[str],
    cap: _Cap | None = None,
) -> int:
    """Append ``items`` to ``keep`` (in place) until it holds ``n``, skipping products that are
    gone, present, ``blocked`` or filtered, and under ``cap``, those of a full category unless
    nothing else completes the list; returns how many of ``items`` were added."""
    present = {c.product_id for c in keep} | blocked
    added = 0
    for product_id, score, reason in items:
        if len(keep) >= n:
            break
        product = products.get(product_id)
        if product is None or product_id in present or filters.blocking(product):
            continue
        present.add(product_id)
        candidate = Candidate(product_id, min(score, 1e-3), [reason])
        if cap is None or cap.admits(candidate):
            keep.append(candidate)
            added += 1
    if cap is not None:
        added += _past_the_cap(keep, cap, n)
    return added


def _past_the_cap(keep: list[Candidate], cap: _Cap, n: int) -> int:
    """Complete ``keep`` with the items ``cap`` kept out (the model's, then the fill's) once the
    fill ran out of other categories; returns how many of the fill's were added."""
    taken = {c.product_id for c in keep}
    added = 0
    for position, candidate in enumerate([*cap.held, *cap.spare]):
        if len(keep) >= n:
            break
        if candidate.product_id in taken:
            continue
        if keep:  # scores stay non-increasing down the list
            candidate.score = min(candidate.score, keep[-1].score)
        keep.append(candidate)
        taken.add(candidate.product_id)
        added += position >= len(cap.held)
    return added


def _unsure(
    keep: list[Candidate], top: float | None, rule: FallbackRule, model_ok: bool, n: int
) -> bool:
    minimum = n if rule.min_items is None else max(rule.min_items, 1)
    if not model_ok or len(keep) < minimum:
        return True
    return rule.min_score is not None and (top is None or top < rule.min_score)


class _Memo:
    """Holds the :class:`_Facts` of the current rule set and catalog snapshot.

    Conditions such as "new within 14 days" move with time, so facts live until the first
    moment such a condition turns for some product (at most :data:`FACTS_SECONDS`); a new
    snapshot (a stock change) or a new rule set version starts afresh. The memo keeps the rule
    set and the snapshot it was built for, so their ids cannot be reused meanwhile.
    """

    def __init__(self) -> None:
        self._facts: _Facts | None = None
        self._lock = threading.Lock()

    def for_request(self, rules: RuleSet, products: Mapping[str, Product], now: datetime) -> _Facts:
        facts = self._facts
        if facts is not None and facts.valid_for(rules, products, now):
            return facts
        with self._lock:
            if self._facts is None or not self._facts.valid_for(rules, products, now):
                self._facts = _Facts(rules, products, now)
            return self._facts


FACTS_SECONDS = 3600
"""The longest facts are kept when no time condition turns sooner."""


def _next_turn(rules: RuleSet, products: Mapping[str, Product], now: datetime) -> datetime:
    """The first moment after ``now`` at which a time condition of ``rules`` ("new within N
    days") changes its answer for one of ``products``, or ``now`` + :data:`FACTS_SECONDS`."""
    turns = [
        product.created_at + age
        for age in rules.ages()
        for product in products.values()
        if product.created_at + age >= now
    ]
    return min([*turns, now + timedelta(seconds=FACTS_SECONDS)])


@dataclass(frozen=True)
class _Active:
    """The active rules of a placement, valid from ``since`` until ``until`` (``None``: on)."""

    since: datetime
    until: datetime | None
    rules: list[Rule]
    ids: tuple[int, ...]


class _Facts:
    """What a list of rules says about each product, computed once per product and list.

    A request then costs one dictionary lookup per candidate for its filters and one for its
    boosts, instead of evaluating every condition of every rule.
    """

    def __init__(self, rules: RuleSet, products: Mapping[str, Product], now: datetime) -> None:
        self._rules = rules
        self._products = products
        self._now = now
        self._until = _next_turn(rules, products, now)
        self._active: dict[str, _Active] = {}
        self._first: dict[tuple[int, ...], dict[str, int]] = {}
        self._matching: dict[tuple[int, ...], dict[str, tuple[int, ...]]] = {}
        self._leaves: dict[str, str] = {}

    def valid_for(self, rules: RuleSet, products: Mapping[str, Product], now: datetime) -> bool:
        return (
            rules is self._rules and products is self._products and self._now <= now < self._until
        )

    def active(self, placement: str, now: datetime) -> tuple[list[Rule], tuple[int, ...]]:
        """The rules active on ``placement`` at ``now`` (priority order) and their ids.

        Remembered per placement until the next start or end of a rule, so the answer is the
        one :meth:`RuleSet.active` gives at ``now``, to the microsecond.
        """
        known = self._active.get(placement)
        if known is not None and known.since <= now and (known.until is None or now < known.until):
            return known.rules, known.ids
        rules = self._rules.active(placement, now)
        bounds = [
            moment
            for rule in self._rules.rules
            for moment in (rule.start, rule.end)
            if moment is not None and moment > now
        ]
        known = _Active(now, min(bounds, default=None), rules, tuple(map(id, rules)))
        self._active[placement] = known
        return known.rules, known.ids

    def first_excluding(
        self, filters: Sequence[FilterRule]
    ) -> tuple[dict[str, int], Callable[[Product], int]]:
        """Position of the first of ``filters`` whose ``exclude`` matches (``len`` if none).

        Returns the table of known answers by product id, and the function that fills it in.
        """
        table = self._first.setdefault(tuple(map(id, filters)), {})
        now, count = self._now, len(filters)

        def first(product: Product) -> int:
            position = next(
                (
                    i
                    for i, rule in enumerate(filters)
                    if rule.exclude is not None and rule.exclude.matches(product, now)
                ),
                count,
            )
            table[product.id] = position
            return position

        return table, first

    def matching(
        self, boosts: Sequence[BoostRule]
    ) -> tuple[dict[str, tuple[int, ...]], Callable[[str], tuple[int, ...]]]:
        """Positions of the ``boosts`` whose ``match`` holds for a product id, in order.

        Returns the table of known answers by product id, and the function that fills it in.
        """
        table = self._matching.setdefault(tuple(map(id, boosts)), {})
        now, products = self._now, self._products

        def matching(product_id: str) -> tuple[int, ...]:
            product = products[product_id]
            found = tuple(i for i, r in enumerate(boosts) if r.match.matches(product, now))
            table[product_id] = found
            return found

        return table, matching

    def leaf(self, product_id: str) -> str:
        leaf = self._leaves.get(product_id)
        if leaf is None:
            leaf = self._leaves[product_id] = _leaf(self._products[product_id])
        return leaf


class _Filters:
    """The active filter rules of one request, with the shopper's purchases looked up once.

    A product's verdict is the position of the first rule that removes it (``len(rules)`` when
    none does, :attr:`MISSING` when it is not in the catalog).
    """

    MISSING = -1

    def __init__(self, rules: list[FilterRule], ctx: ShopperContext, facts: _Facts) -> None:
        self.rules = rules
        self.known, self._first = facts.first_excluding(rules)
        bought = [
            (
                position,
                ctx.purchased_since(
                    int((ctx.now - timedelta(days=rule.purchased_within_days)).timestamp() * 1000)
                ),
            )
            for position, rule in enumerate(rules)
            if rule.purchased_within_days is not None
        ]
        self.bought = [(position, ids) for position, ids in bought if ids]

    def first(self, product: Product | None, product_id: str) -> int:
        """The verdict on a product not yet in :attr:`known` (ignoring purchases)."""
        if product is None:
            self.known[product_id] = self.MISSING
            return self.MISSING
        return self._first(product)

    def first_with_purchases(self, product_id: str, first: int) -> int:
        """The verdict ``first``, or an earlier purchase rule that removes the product."""
        for position, ids in self.bought:
            if position >= first:
                break
            if product_id in ids:
                return position
        return first

    def blocking(self, product: Product) -> FilterRule | None:
        """The first rule that removes ``product``, or ``None``."""
        first = self.known.get(product.id)
        if first is None or first == self.MISSING:
            first = self._first(product)
        first = self.first_with_purchases(product.id, first)
        return self.rules[first] if first < len(self.rules) else None


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
