"""The production recommender: candidate generators, then the learned LambdaRank ranker.

:class:`ShopwiseRecommender` is itself a :class:`~shopwise.recommend.candidates.Recommender`, so the
evaluation harness measures exactly what serving serves. ``fit`` trains in two rounds without
leakage: it holds out part of the data the way the shop will be queried (each sequence's last item
for returning shoppers, whole recent sequences for anonymous sessions, or the most recent events
when timestamps are known; see :func:`choose_scheme`), fits the generators on the rest, builds the
candidate union for the held-out queries and trains the ranker to put the held-out items first;
then it refits the generators on all the data, keeping the ranker (a generator that can continue
from its held-out fit, like the GRU, is fine-tuned instead of trained again from scratch). Part
of the held-out queries is
kept from the ranker to choose a blend with a generator's list
(:func:`~shopwise.recommend.ranking.choose_blend`), so that the served list is never worse than a
generator's on those queries. ``score`` returns the (blended) ranker scores for the candidates of
each history, finite scores for the generator's items the blend placed, and ``-inf`` for every
other item. ``fit_report`` names the scheme, the blend and the seconds each stage of the last fit
took.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from shopwise.errors import NotEnoughData
from shopwise.recommend.candidates import (
    FloatArray,
    IntArray,
    InteractionData,
    KeepsUserRows,
    Recommender,
    check_fitted,
    top_n,
)
from shopwise.recommend.candidates.content import ContentConfig, ContentRecommender
from shopwise.recommend.candidates.linear import EASEConfig, EASERecommender
from shopwise.recommend.candidates.mf import ALSConfig, ALSRecommender
from shopwise.recommend.candidates.sequential_config import SequentialConfig
from shopwise.recommend.candidates.sknn import SessionKNNConfig, SessionKNNRecommender
from shopwise.recommend.candidates.transition import (
    TransitionConfig,
    TransitionRecommender,
    known_items,
)
from shopwise.recommend.ranking import (
    Blend,
    BlendConfig,
    CandidateBatch,
    CandidateConfig,
    ItemStats,
    LambdaRanker,
    LambdaRankerConfig,
    blend_scores,
    build_candidates,
    choose_blend,
    fit_item_stats,
    ordered,
)

__all__ = ["Recommendation", "ShopwiseConfig", "ShopwiseRecommender", "holdout_last"]


def _default_transitions() -> dict[str, TransitionConfig]:
    return {
        "transition": TransitionConfig(),
        "transition_last": TransitionConfig(window=1, recency_decay=0.2),
        "transition_long": TransitionConfig(
            window=5,
            distance_decay=0.8,
            recency_decay=0.9,
            backward_weight=0.5,
            row_normalization=0.5,
        ),
    }


class ShopwiseConfig(BaseModel):
    """Settings of the whole two-stage pipeline."""

    model_config = ConfigDict(extra="forbid")

    transitions: dict[str, TransitionConfig] = Field(default_factory=_default_transitions)
    """Transition generators by name, at several windows and recency decays."""
    content: ContentConfig | None = Field(default_factory=ContentConfig)
    """Content generator (attributes / text); ``None`` leaves it out."""
    als: ALSConfig | None = Field(default_factory=ALSConfig)
    """Matrix factorization generator (the harness's ALS peer); ``None`` leaves it out."""
    ease: EASEConfig | None = None
    """EASE generator (the harness's peer). Off by default: the ablation in ``docs/models.md``
    found it neutral to harmful for its training time; it is skipped on catalogs above its
    ``max_items``."""
    sknn: SessionKNNConfig | None = Field(default_factory=lambda: SessionKNNConfig(decay="div"))
    """Session-kNN generator (the harness's peer); ``None`` leaves it out."""
    sequential: SequentialConfig | None = Field(
        default_factory=lambda: SequentialConfig(epochs=6, refit_epochs=3)
    )
    """GRU next-item generator (``candidates.sequential``, torch on a GPU when there is one,
    else the CPU), trained only when the ranker's queries are whole sessions
    (:func:`choose_scheme`), i.e. on session-shaped data such as Diginetica, where it lifted P@20
    (``docs/models.md``). It has not been measured on shopper histories (Amazon, UCI) and would
    add minutes of training there, so it sits out; ``None`` leaves it out everywhere. Six epochs
    on the held-out round (the better of 3 and 6 on Diginetica's validation split), then three
    epochs on all the data continuing from those weights (``refit_epochs``; one lost more P@20 on
    Diginetica, ``docs/models.md``)."""
    candidates: CandidateConfig = Field(default_factory=CandidateConfig)
    ranker: LambdaRankerConfig = Field(default_factory=LambdaRankerConfig)
    blend: BlendConfig | None = Field(default_factory=BlendConfig)
    """How the ranker's list is blended with a generator's where one beats it on held-out
    queries; ``None`` serves the ranker's list as it is."""
    max_training_queries: int = Field(default=50_000, ge=1)
    """Held-out queries sampled to train the ranker (bounds training time on big shops)."""
    ranker_queries: Literal["auto", "last", "sessions", "time"] = "auto"
    """How the ranker's training queries are held out (see :func:`ranker_queries`)."""
    holdout_share: float = Field(default=0.1, gt=0.0, lt=1.0)
    """Share of the most recent sequences held out by ``"sessions"``."""
    time_holdout_share: float = Field(default=0.2, gt=0.0, lt=1.0)
    """Share of the most recent events held out by ``"time"``."""
    history_length: int = Field(default=50, ge=1)
    """Most recent history items a query keeps (the harness's protocol uses 50)."""
    batch_size: int = Field(default=256, ge=1)
    seed: int = 0


@runtime_checkable
class Refits(Protocol):
    """A generator that can continue training from its last fit instead of starting over."""

    def refit(self, data: InteractionData) -> None: ...


class _Stopwatch:
    """Seconds per named stage, in the order the stages ran (a stage run twice adds up)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._started = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed

    def report(self) -> dict[str, float]:
        """Rounded seconds per stage, and ``total`` for the whole fit."""
        out = {name: round(value, 2) for name, value in self.seconds.items()}
        out["total"] = round(time.perf_counter() - self._started, 2)
        return out


@dataclass
class Recommendation:
    """Served items for one history, best first, with their reason codes."""

    items: IntArray
    scores: FloatArray
    reasons: list[list[str]]


def holdout_last(data: InteractionData) -> tuple[InteractionData, IntArray, IntArray]:
    """``data`` without each sequence's last interaction, the users held out and their targets.

    Sequences of length one keep their only item and yield no held-out query.
    """
    users = np.asarray([u for u, s in enumerate(data.sequences) if len(s) >= 2], dtype=np.int64)
    held = set(users.tolist())

    def cut(values: list[np.ndarray]) -> list[np.ndarray]:
        return [v[:-1] if u in held else v for u, v in enumerate(values)]

    targets = np.asarray([int(data.sequences[u][-1]) for u in users], dtype=np.int64)
    train = InteractionData(
        sequences=cut(list(data.sequences)),
        n_items=data.n_items,
        weights=None if data.weights is None else cut(list(data.weights)),
        timestamps=None if data.timestamps is None else cut(list(data.timestamps)),
        content=data.content,
    )
    return train, users, targets


@dataclass
class RankerQueries:
    """Training data for the generators and the held-out queries the ranker learns from."""

    train: InteractionData
    histories: list[IntArray]
    targets: list[IntArray]
    """Relevant items of each query (one or more)."""
    scheme: str


def _subset(data: InteractionData, keep: list[int], cut: dict[int, int]) -> InteractionData:
    """Sequences ``keep`` of ``data``, each truncated to its first ``cut[u]`` items if listed."""

    def part(values: list[np.ndarray]) -> list[np.ndarray]:
        return [values[u][: cut.get(u, len(values[u]))] for u in keep]

    return InteractionData(
        sequences=part(list(data.sequences)),
        n_items=data.n_items,
        weights=None if data.weights is None else part(list(data.weights)),
        timestamps=None if data.timestamps is None else part(list(data.timestamps)),
        content=data.content,
    )


def holdout_sessions(data: InteractionData, share: float) -> RankerQueries:
    """Hold out the most recent ``share`` of whole sequences; query every prefix of them.

    This mirrors anonymous sessions: the generators never saw the query's own sequence, and
    every prefix asks for the click that followed it (the SR-GNN training examples). Sequences
    are ordered by their last timestamp when known, otherwise by their order in ``data``.
    """
    order = np.arange(data.n_users)
    if data.timestamps is not None:
        last = [int(t[-1]) if len(t) else -1 for t in data.timestamps]
        order = np.argsort(np.asarray(last), kind="stable")
    n_held = round(share * data.n_users)
    held = sorted(order[data.n_users - n_held :].tolist())
    held_set = set(held)
    histories: list[IntArray] = []
    targets: list[IntArray] = []
    for u in held:
        sequence = np.asarray(data.sequences[u], dtype=np.int64)
        for end in range(1, len(sequence)):
            histories.append(sequence[:end])
            targets.append(sequence[end : end + 1])
    keep = [u for u in range(data.n_users) if u not in held_set]
    return RankerQueries(_subset(data, keep, {}), histories, targets, "sessions")


def holdout_time(data: InteractionData, share: float) -> RankerQueries:
    """Hold out every event after the time by which ``1 - share`` of the events happened.

    This is the temporal protocol itself: the generators see only the past, and each shopper
    active after the cut is asked for all the items new to them. Needs timestamps.
    """
    if data.timestamps is None or not data.n_users:
        raise ValueError("the 'time' ranker query scheme needs timestamps")
    cutoff = float(np.quantile(np.concatenate(data.timestamps).astype(np.float64), 1.0 - share))
    cut: dict[int, int] = {}
    histories: list[IntArray] = []
    targets: list[IntArray] = []
    for u, (raw, times) in enumerate(zip(data.sequences, data.timestamps, strict=True)):
        sequence = np.asarray(raw, dtype=np.int64)
        keep = int(np.searchsorted(np.asarray(times, dtype=np.float64), cutoff, side="left"))
        cut[u] = keep
        fresh = np.setdiff1d(sequence[keep:], sequence[:keep])
        if keep and len(fresh):
            histories.append(sequence[:keep])
            targets.append(fresh)
    return RankerQueries(_subset(data, list(range(data.n_users)), cut), histories, targets, "time")


def _holdout_last_queries(data: InteractionData) -> RankerQueries:
    train, users, targets = holdout_last(data)
    histories = [train.sequences[u] for u in users]
    return RankerQueries(train, histories, [targets[i : i + 1] for i in range(len(users))], "last")


_SESSION_MEDIAN_LENGTH = 4
"""``"auto"`` treats sequences as anonymous sessions when half of them are this short."""

_MIN_TIME_QUERIES = 100
"""``"auto"`` uses the time cut only when it yields at least this many queries."""


def choose_scheme(data: InteractionData, config: ShopwiseConfig) -> RankerQueries:
    """The held-out queries ``"auto"`` picks for ``data``.

    With timestamps, the time cut (the temporal protocol itself) when it yields enough
    queries; otherwise whole held-out sessions when the median sequence is session-short
    (anonymous visits: queries are new sequences the generators never saw); otherwise each
    sequence's last item (returning shoppers whose earlier items the generators saw).
    """
    if data.timestamps is not None and data.n_users:
        held = holdout_time(data, config.time_holdout_share)
        if len(held.histories) >= _MIN_TIME_QUERIES:
            return held
    lengths = [len(s) for s in data.sequences]
    if lengths and float(np.median(lengths)) <= _SESSION_MEDIAN_LENGTH:
        return holdout_sessions(data, config.holdout_share)
    return _holdout_last_queries(data)


def ranker_queries(data: InteractionData, config: ShopwiseConfig) -> RankerQueries:
    """Generator training data and ranker queries under ``config.ranker_queries``.

    ``"last"`` holds out each sequence's last item (leave-one-out shops: the query's own earlier
    items are in the generators); ``"sessions"`` holds out whole recent sequences and asks for
    every next click (anonymous sessions); ``"time"`` holds out the most recent events and asks
    each shopper for all the items new to them (temporal splits). ``"auto"`` chooses with
    :func:`choose_scheme`.
    """
    scheme = config.ranker_queries
    if scheme == "auto":
        return choose_scheme(data, config)
    if scheme == "last":
        return _holdout_last_queries(data)
    if scheme == "sessions":
        return holdout_sessions(data, config.holdout_share)
    return holdout_time(data, config.time_holdout_share)


def _accepts(generator: Recommender, data: InteractionData) -> bool:
    """Whether ``generator`` has something to learn from ``data``.

    The content generator needs item content; EASE refuses catalogs above its ``max_items``
    (its item x item matrix is quadratic).
    """
    if isinstance(generator, ContentRecommender) and data.content is None:
        return False
    n_items = data.n_items
    if isinstance(generator, EASERecommender) and n_items > generator.config.max_items:
        warnings.warn(
            f"{n_items} items exceed EASE's max_items={generator.config.max_items}; "
            "the pipeline runs without it",
            stacklevel=3,
        )
        return False
    return True


class ShopwiseRecommender:
    """Candidates from several generators, ordered by a LambdaRank ranker.

    Parameters
    ----------
    config
        Generators, candidate counts, ranker and training-sample settings.
    extra_generators
        Further generators (for example EASE or ALS from the evaluation peers) fitted and used
        alongside the configured ones; their ``name`` prefixes their features.
    name
        Name under which the harness reports this model.
    """

    blend: Blend | None = None
    """The blend the last fit chose (``None``: the ranker's list as it is). A class default, so
    that artifacts pickled before the blend existed load and serve the ranker's list."""
    timings: Mapping[str, float] = MappingProxyType({})
    """Seconds each stage of the last fit took (``fit:<generator>``, ``candidates``,
    ``ranker``, ``blend``, ``refit:<generator>``, ...) and ``total``; empty before a fit and in
    artifacts pickled before timings existed."""

    def __init__(
        self,
        config: ShopwiseConfig | None = None,
        extra_generators: Sequence[Recommender] = (),
        name: str = "shopwise",
    ) -> None:
        self.config = config or ShopwiseConfig()
        self.name = name
        self.generators: list[Recommender] = [
            TransitionRecommender(cfg, name=key) for key, cfg in self.config.transitions.items()
        ]
        if self.config.content is not None:
            self.generators.append(ContentRecommender(self.config.content))
        if self.config.als is not None:
            self.generators.append(ALSRecommender(self.config.als))
        if self.config.ease is not None:
            self.generators.append(EASERecommender(self.config.ease))
        if self.config.sknn is not None:
            self.generators.append(SessionKNNRecommender(self.config.sknn))
        self.generators.extend(extra_generators)
        names = [g.name for g in self.generators]
        if len(set(names)) != len(names):
            raise ValueError(f"generator names must be unique, got {names}")
        self.ranker = LambdaRanker(self.config.ranker)
        self.stats: ItemStats | None = None
        self.scheme = ""
        """The ranker-query scheme used by the last fit (``"auto"`` resolved)."""
        self.active: list[Recommender] = list(self.generators)
        """The generators used for the data last fitted (EASE sits out on huge catalogs)."""

    def fit(self, data: InteractionData, progress: Callable[[str], None] | None = None) -> None:
        """Train the ranker on held-out queries (:func:`ranker_queries`), choose the blend on
        queries it did not train on, then refit the generators on everything."""
        report = progress or (lambda _message: None)
        cfg = self.config
        watch = _Stopwatch()
        with watch.stage("holdout"):
            held = ranker_queries(data, cfg)
        self.scheme = held.scheme
        self.active = [g for g in self._generators_for(held.scheme) if _accepts(g, data)]
        report(f"fitting generators on data without the held-out items ({held.scheme})")
        self._fit_generators(held.train, watch, refit=False)
        sample, aside, inside = self._split_queries(len(held.histories))
        histories = [held.histories[i] for i in sample]
        targets = [held.targets[i] for i in sample]
        report(f"building candidates for {len(histories)} ranker training queries")
        with watch.stage("candidates"):
            features, labels, query_ids, names = self._training_rows(histories, targets)
        self.blend = None
        if len(aside):
            deciding = ~np.isin(query_ids, aside) if inside else np.ones(len(labels), dtype=bool)
            report(f"training the ranker on {int(deciding.sum())} rows to choose the blend")
            try:
                with watch.stage("ranker"):
                    self.ranker.fit(
                        features[deciding], labels[deciding], query_ids[deciding], names
                    )
            except NotEnoughData:
                aside = aside[:0]
            else:
                source = histories if inside else held.histories
                goal = targets if inside else held.targets
                with watch.stage("blend"):
                    self.blend = self._choose_blend(
                        [source[i] for i in aside], [goal[i] for i in aside]
                    )
                report(f"blend chosen on {len(aside)} held-out queries: {self.blend.generator}")
        if not len(aside) or inside:
            report(f"training the ranker on {len(labels)} candidate rows")
            with watch.stage("ranker"):
                self.ranker.fit(features, labels, query_ids, names)
        report("refitting generators on all data")
        self._fit_generators(data, watch, refit=True)
        self.timings = watch.report()

    def _split_queries(self, n_queries: int) -> tuple[IntArray, IntArray, bool]:
        """The ranker's sample of the held-out queries and those kept aside for the blend.

        The ranker samples at most ``max_training_queries``. When enough queries are left out
        of that sample, the blend is chosen on some of them (``inside`` is false, indices are
        into all queries); otherwise on a share of the sample itself (``inside`` is true,
        indices are into the sample), and the ranker is trained again on the whole sample.
        """
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        sample = np.arange(n_queries)
        if n_queries > cfg.max_training_queries:
            sample = np.sort(rng.choice(n_queries, cfg.max_training_queries, replace=False))
        blend = cfg.blend
        if blend is None:
            return sample, sample[:0], False
        wanted = min(blend.max_queries, round(blend.validation_share * len(sample)))
        left = np.setdiff1d(np.arange(n_queries), sample)
        inside = len(left) < wanted
        pool = len(sample) if inside else len(left)
        picked = np.sort(np.random.default_rng(cfg.seed).choice(pool, wanted, replace=False))
        return sample, picked if inside else left[picked], inside

    def _choose_blend(self, histories: list[IntArray], targets: list[IntArray]) -> Blend:
        """Measure the ranker's and each generator's lists on held-out queries; pick the blend."""
        blend = self.config.blend
        assert blend is not None
        skip = self.scheme != "sessions"
        length = max(blend.cutoffs)
        ranker: list[IntArray] = []
        generators: dict[str, list[IntArray]] = {g.name: [] for g in self.active}
        size = self.config.batch_size
        for start in range(0, len(histories), size):
            chunk = histories[start : start + size]
            block, scores, _ = self._ranked(chunk)
            for row, history in enumerate(chunk):
                exclude = history if skip else None
                ranker.append(ordered(block[row], length, exclude))
                for name, lists in generators.items():
                    lists.append(ordered(scores[name][row], length, exclude))
        return choose_blend(ranker, generators, targets, blend, skip)

    def _fit_generators(self, data: InteractionData, watch: _Stopwatch, refit: bool) -> None:
        """Fit every active generator on ``data``; on the ``refit`` round, those that can
        continue from their held-out fit do so."""
        prefix = "refit" if refit else "fit"
        for generator in self.active:
            with watch.stage(f"{prefix}:{generator.name}"):
                if refit and isinstance(generator, Refits):
                    generator.refit(data)
                else:
                    generator.fit(data)
        with watch.stage(f"{prefix}:item_stats"):
            self.stats = fit_item_stats(data, self.config.candidates)

    def _training_rows(
        self, histories: list[IntArray], targets: list[IntArray]
    ) -> tuple[np.ndarray, np.ndarray, IntArray, list[str]]:
        parts, labels, queries = [], [], []
        names: list[str] = []
        size = self.config.batch_size
        for start in range(0, len(histories), size):
            batch = self._candidates(histories[start : start + size])[0]
            names = batch.feature_names
            parts.append(batch.features)
            chunk = targets[start : start + size]
            owner = np.repeat(np.arange(len(chunk)), [len(t) for t in chunk])
            relevant = sp.csr_matrix(
                (np.ones(len(owner), dtype=np.float32), (owner, np.concatenate(chunk))),
                shape=(len(chunk), self._require_stats().log_popularity.shape[0]),
            )
            labels.append(np.asarray(relevant[batch.rows, batch.items]).ravel() > 0)
            queries.append(batch.rows + start)
        return (
            np.concatenate(parts),
            np.concatenate(labels).astype(np.float32),
            np.concatenate(queries),
            names,
        )

    def _require_stats(self) -> ItemStats:
        check_fitted(self.stats, self.name)
        assert self.stats is not None
        return self.stats

    def _candidates(
        self, histories: Sequence[IntArray]
    ) -> tuple[CandidateBatch, dict[str, FloatArray]]:
        """Candidate rows of ``histories`` and every generator's full score rows."""
        stats = self._require_stats()
        recent = [np.asarray(h, dtype=np.int64)[-self.config.history_length :] for h in histories]
        scores = {g.name: g.score(recent) for g in self.active}
        return build_candidates(recent, scores, stats, self.config.candidates), scores

    def _ranked(
        self, histories: Sequence[IntArray]
    ) -> tuple[FloatArray, dict[str, FloatArray], CandidateBatch]:
        """Ranker scores of non-empty ``histories`` (``-inf`` off the candidates), the
        generators' scores and the candidate rows."""
        batch, scores = self._candidates(histories)
        block = np.full((len(histories), len(self._require_stats().log_popularity)), -np.inf)
        block = block.astype(np.float32)
        block[batch.rows, batch.items] = self.ranker.predict(batch.features)
        return block, scores, batch

    def _served(
        self, histories: Sequence[IntArray]
    ) -> tuple[FloatArray, list[set[int]], CandidateBatch]:
        """Served scores of non-empty ``histories``: the ranker's, blended where chosen.

        Also returns, per history, the items the blend's generator placed, and the candidates.
        """
        block, scores, batch = self._ranked(histories)
        blend = self.blend
        if blend is None or blend.generator is None:
            return block, [set() for _ in histories], batch
        blended, placed = blend_scores(block, scores[blend.generator], histories, blend)
        return blended, placed, batch

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        """Served scores of each history's list; ``-inf`` for items not on it.

        The ranker scores its candidates; where the fit chose a blend, the blended list's items
        score above the rest in blended order. An empty history (a brand-new visitor) gets
        plain popularity over all items.
        """
        stats = self._require_stats()
        n_items = len(stats.log_popularity)
        histories = [known_items(h, n_items) for h in histories]
        out = np.full((len(histories), n_items), -np.inf, dtype=np.float32)
        filled = [i for i, h in enumerate(histories) if len(h)]
        empty = [i for i, h in enumerate(histories) if not len(h)]
        out[empty] = stats.log_popularity
        size = self.config.batch_size
        for start in range(0, len(filled), size):
            chunk = filled[start : start + size]
            out[chunk] = self._served([histories[i] for i in chunk])[0]
        return out

    def recommend(self, history: IntArray, n: int, exclude_history: bool = True) -> Recommendation:
        """Top ``n`` items for one history, with reason codes from the ranker (the blend's
        generator for the items it placed)."""
        stats = self._require_stats()
        history = known_items(history, len(stats.log_popularity))
        if not len(history):
            items, scores = top_n(stats.log_popularity, n, None)
            return Recommendation(items, scores, [["popular"] for _ in items])
        block, placed, batch = self._served([history])
        items, scores = top_n(block[0], n, history if exclude_history else None)
        position = {int(item): row for row, item in enumerate(batch.items)}
        ranked = [i for i in items.tolist() if i not in placed[0] and i in position]
        found = self.ranker.reasons(batch.features[[position[i] for i in ranked]])
        by_item = dict(zip(ranked, found, strict=True))
        generator = self.blend.generator if self.blend is not None else None
        reasons = [by_item.get(int(i), [generator or "ranker"]) for i in items.tolist()]
        return Recommendation(items, scores, reasons)

    def fit_report(self) -> dict[str, object]:
        """What the last fit chose: the ranker-query scheme, the blend with the validation
        metrics of the ranker's, each generator's and the final list, and the seconds each
        stage took (``timings``)."""
        blend = self.blend
        return {
            "scheme": self.scheme,
            "timings": dict(self.timings),
            "blend": None
            if blend is None
            else {
                "generator": blend.generator,
                "head": blend.head,
                "length": blend.length,
                "skip_history": blend.skip_history,
                "queries": blend.queries,
                "metrics": blend.metrics,
            },
        }

    def _generators_for(self, scheme: str) -> list[Recommender]:
        """The configured generators, plus the sequential one when queries are sessions.

        It is made here, not in ``__init__``, so that torch is imported (and the generator
        pickled with the artifact) only where it trains.
        """
        if self.config.sequential is None or scheme != "sessions":
            return self.generators
        from shopwise.recommend.candidates.sequential import SequentialRecommender

        return [*self.generators, SequentialRecommender(self.config.sequential)]

    def ranker_features(self) -> list[str]:
        """Names of the features the fitted ranker uses, in order."""
        state = self.ranker.state
        return [] if state is None else list(state.feature_names)

    def forget(self, rows: Sequence[int]) -> None:
        """Remove training ``rows`` from every generator that keeps a row per user."""
        for generator in self.active:
            if isinstance(generator, KeepsUserRows):
                generator.forget(rows)

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """Items that most often follow ``item`` (the first transition generator's view)."""
        for generator in self.generators:
            if isinstance(generator, TransitionRecommender):
                return generator.similar_items(item, n)
        return self.generators[0].similar_items(item, n)
