"""What an experiment variant changes about an answer, and who decides which variant a shopper sees.

Serving knows nothing of experiment definitions, weights or storage: it asks an injected
:class:`Assigner` for the shopper's :class:`Treatment` at one placement and applies it (another
model version, the popularity baseline, another rule or content set, a banner, a section order).
The experiments package above serving implements the assigner; serving records the exposure with
the experiment and variant only when the treatment was actually served.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from shopwise.decide import ContentBlock, ContentSet, RuleEngine, RuleSet, Versioned, VersionedStore
from shopwise.recommend import Precomputed, RecommenderArtifact
from shopwise.registry import ModelRegistry

log = logging.getLogger("shopwise.serving")

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Treatment:
    """What one experiment variant changes about an answer.

    Attributes
    ----------
    experiment
        The experiment id.
    variant
        The variant name; ``"holdout"`` for the holdout share.
    model_version
        A recommender registry version; None serves the champion.
    popular
        No model: the rules' fallback list (popularity baseline, holdout).
    rules_version
        A stored rule-set version; None serves the live one.
    content_version
        A stored content-set version; None serves the live one.
    banner
        Show this content block as the banner (content and bandit tests).
    layout
        Section names in this order.
    in_recommendations
        Whether ``/v1/recommendations`` answers take part: True when some arm of the experiment
        changes product lists (:attr:`shapes_products`, or a holdout share); False for an
        experiment that only ``/v1/decide`` shows (content set, banner, section order), whose
        plain recommendation answers stay outside it, so no exposure counts for a change nobody
        saw there. It is the experiment's, not the variant's: its control changes nothing
        either way.
    """

    experiment: str
    variant: str
    model_version: str | None = None
    popular: bool = False
    rules_version: int | None = None
    content_version: int | None = None
    banner: str | None = None
    layout: tuple[str, ...] | None = None
    in_recommendations: bool = True

    def __post_init__(self) -> None:
        if self.shapes_products and not self.in_recommendations:
            raise ValueError("a variant that changes product lists takes part in recommendations")

    @property
    def shapes_products(self) -> bool:
        """Whether this variant changes the product list (a model, the popularity baseline or
        a rule set), not only what ``/v1/decide`` adds to it."""
        return self.popular or self.model_version is not None or self.rules_version is not None

    @property
    def changes_decisions(self) -> bool:
        """Whether this variant changes what ``/v1/decide`` adds to the products (a content
        set, a banner or a section order)."""
        return self.content_version is not None or self.banner is not None or bool(self.layout)


class Assigner(Protocol):
    """Picks the treatment of one shopper (its canonical profile id) at one placement."""

    def __call__(self, placement: str, profile_id: str) -> Treatment | None:
        """The shopper's treatment, or None outside every running experiment."""
        ...


Models = Callable[[str], RecommenderArtifact | None]
"""Loads a recommender registry version (cached by the caller); ``None`` when it has none."""


RETRY_SECONDS = 30.0
"""How long a variant's missing or unloadable version is answered as missing before it is looked
for again: a request neither lists the registry nor queries the store for it meanwhile."""


class Misses:
    """Keys found missing, remembered for ``retry_seconds`` (then looked for again)."""

    def __init__(
        self, retry_seconds: float = RETRY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._retry = retry_seconds
        self._clock = clock
        self._until: dict[object, float] = {}

    def __contains__(self, key: object) -> bool:
        until = self._until.get(key)
        return until is not None and self._clock() < until

    def add(self, key: object) -> None:
        self._until[key] = self._clock() + self._retry

    def discard(self, key: object) -> None:
        self._until.pop(key, None)

    def clear(self) -> None:
        self._until.clear()


class ModelVersions:
    """Recommender registry versions that experiment variants serve, loaded on first use and
    kept (the most recently used ``keep`` of them): the ``models`` loader of
    :class:`~shopwise.serving.Recommendations`. A version the registry lacks, or one that failed
    to load, is answered as missing for ``retry_seconds``, then looked for again.

    A kept artifact holds its training rows like the champion does, so an erasure must call
    :meth:`clear` (a later request loads the rewritten file); :meth:`holds` answers whether any
    kept artifact still has a row of the given profiles.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        keep: int = 4,
        retry_seconds: float = RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self._registry = registry
        self._keep = keep
        self._loaded: OrderedDict[str, RecommenderArtifact] = OrderedDict()
        self._missing = Misses(retry_seconds, clock)
        """Versions absent or broken: not looked for on every request (like the champion)."""
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        """One load at a time: concurrent first requests of a version wait for one read."""

    def __call__(self, version: str) -> RecommenderArtifact | None:
        """The artifact of ``version``; ``None`` when the registry has no such version or it
        could not be loaded (logged once)."""
        found = self._kept(version)
        if found is not None or version in self._missing:
            return found
        with self._loading:
            found = self._kept(version)
            if found is not None or version in self._missing:
                return found
            if version not in self._registry.versions():
                self._missing.add(version)
                return None
            try:
                loaded = self._registry.load(version)
                if not isinstance(loaded, RecommenderArtifact):
                    raise TypeError(f"expected a RecommenderArtifact, got {type(loaded).__name__}")
            except Exception:  # boundary: a bad artifact serves the control, never an error
                log.exception("experiment model could not be loaded", extra={"version": version})
                self._missing.add(version)
                return None
            with self._lock:
                self._loaded[version] = loaded
                while len(self._loaded) > self._keep:
                    self._loaded.popitem(last=False)
            return loaded

    def _kept(self, version: str) -> RecommenderArtifact | None:
        with self._lock:
            artifact = self._loaded.get(version)
            if artifact is not None:
                self._loaded.move_to_end(version)
            return artifact

    def clear(self) -> None:
        """Forget every loaded version (an erasure: the rewritten files load afresh)."""
        with self._lock:
            self._loaded.clear()
            self._missing.clear()

    def holds(self, profile_ids: Collection[str]) -> bool:
        """Whether a loaded version still keeps a training row of one of ``profile_ids``."""
        wanted = set(profile_ids)
        with self._lock:
            return any(wanted.intersection(a.profile_ids) for a in self._loaded.values())


@dataclass(frozen=True, slots=True)
class Arm:
    """What serves one answer: the champion, its precomputed lists and the live rules, or what an
    experiment variant puts in their place."""

    treatment: Treatment | None
    """The variant served; ``None`` outside experiments (or when the variant could not be)."""
    artifact: RecommenderArtifact | None
    model_version: str | None
    precomputed: Precomputed | None
    """The worker's lists (the champion's)."""
    rules: Versioned[RuleSet]
    engine: RuleEngine
    """The rule engine of ``rules`` (one per rule-set version, each with its own facts)."""
    content: Versioned[ContentSet] | None = None
    """The variant's content set; ``None``: the live one."""
    rescored: bool = False
    """A variant model: where the worker listed the shopper, the long-term list is this
    model's full-model list scored at request time instead (see
    :class:`~shopwise.serving.Recommendations`), so both arms are served the same way."""

    @property
    def popular(self) -> bool:
        """Whether the variant serves no model: the rules' fallback list alone."""
        return self.treatment is not None and self.treatment.popular


class Arms:
    """Asks the assigner for a shopper's treatment and resolves it into the :class:`Arm` that
    serves it.

    A variant is served whole or not at all: when any part of it (a model version, a rule or
    content version, a banner) cannot be had, the answer is the control's, flagged in
    ``degraded`` (``variant_model_missing``, ``variant_rules_missing``,
    ``variant_content_missing``, ``variant_banner_missing``), and carries no experiment, so no
    exposure counts for a variant the shopper did not see. That is logged once per variant and
    problem; the loaders remember what is missing for a while.
    """

    def __init__(
        self,
        assign: Assigner | None,
        models: Models | None,
        rules: VersionedStore[RuleSet],
        content: VersionedStore[ContentSet],
        new_engine: Callable[[], RuleEngine],
    ) -> None:
        self._assign = assign
        self._models = models
        self._rules = rules
        self._content = content
        self._new_engine = new_engine
        self._engines: dict[int, RuleEngine] = {}
        self._lock = threading.Lock()
        self._warned: set[tuple[str, str, str]] = set()
        """(experiment, variant, problem) already logged: a warning per variant, not per
        request."""

    @property
    def enabled(self) -> bool:
        return self._assign is not None

    def treatment(self, placement: str, profile_id: str) -> Treatment | None:
        """The assigner's treatment; ``None`` when it fails (logged: an experiment never fails
        a request)."""
        if self._assign is None:
            return None
        try:
            return self._assign(placement, profile_id)
        except Exception:  # boundary: a broken assigner serves the answer without experiment
            log.exception("experiment assignment failed; serving without experiment")
            return None

    def resolve(self, treatment: Treatment, control: Arm, degraded: list[str]) -> Arm:
        """The arm serving ``treatment``; ``control`` (with a degraded code) when it cannot."""
        problem, arm = self._resolve(treatment, control)
        if problem is not None:
            self._warn(treatment, problem)
            degraded.append(problem)
            return control
        return arm

    def _warn(self, treatment: Treatment, problem: str) -> None:
        key = (treatment.experiment, treatment.variant, problem)
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning(
            "experiment variant not served",
            extra={
                "experiment": treatment.experiment,
                "variant": treatment.variant,
                "problem": problem,
            },
        )

    def _resolve(self, treatment: Treatment, control: Arm) -> tuple[str | None, Arm]:
        arm = replace(control, treatment=treatment)
        version = treatment.model_version
        if version is not None and version != control.model_version:
            artifact = self._load(self._model, version)
            if artifact is None:
                return "variant_model_missing", control
            arm = replace(arm, artifact=artifact, model_version=version, rescored=True)
        if treatment.rules_version is not None and treatment.rules_version != arm.rules.version:
            rules = self._load(self._rules.get, treatment.rules_version)
            if rules is None:
                return "variant_rules_missing", control
            arm = replace(arm, rules=rules, engine=self._engine(rules.version))
        if treatment.content_version is not None or treatment.banner is not None:
            content = (
                self._content.live()
                if treatment.content_version is None
                else self._load(self._content.get, treatment.content_version)
            )
            if content is None:
                return "variant_content_missing", control
            if (
                treatment.banner is not None
                and named_block(content.value, treatment.banner) is None
            ):
                return "variant_banner_missing", control
            arm = replace(arm, content=content)
        return None, arm

    def _model(self, version: str) -> RecommenderArtifact | None:
        return None if self._models is None else self._models(version)

    def _engine(self, version: int) -> RuleEngine:
        """The rule engine of a variant's rule-set version (kept: its facts are memoized)."""
        with self._lock:
            engine = self._engines.get(version)
            if engine is None:
                engine = self._engines[version] = self._new_engine()
            return engine

    @staticmethod
    def _load(load: Callable[[K], V | None], key: K) -> V | None:
        try:
            return load(key)
        except Exception:  # boundary: a variant that cannot be loaded serves the control
            log.exception("experiment variant could not be loaded", extra={"key": key})
            return None


def named_block(content: ContentSet, name: str) -> ContentBlock | None:
    """The content block called ``name``, if the set has one."""
    return next((block for block in content.blocks if block.name == name), None)
