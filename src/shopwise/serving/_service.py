"""Recommendations and page decisions, independent of HTTP.

Fast path: identity -> profile (``Profiles.current``: an in-process cache kept current by the
profile consumer, the store on a miss) -> consent: the profile's choices overlaid with statements
committed since (online state); without personalization consent the answer is rules and popular
products only, flagged ``"personalized": false`` and cached under the request without the
shopper's ids, and the shopper's session events are dropped -> the session's fresh events
(online state) -> history
-> candidates from the champion model (scored on the fresh history, remembered per history)
merged with the worker's precomputed candidates -> business rules -> answer with a recommendation
id and reason codes. A request whose inputs (profile state, recent events, model, lists, rules,
catalog snapshot, time facts) are those of an earlier one reuses its answer, the ruled list
already rendered as JSON (:class:`AnswerCache`; a response splices its own id into it). The
request and its answer are appended to a buffer that a background thread turns into
``recommendation_viewed`` rows and hands to the collector in batches (:class:`ExposureLog`,
:func:`exposure_rows`). Nothing on this path waits on I/O once the shopper's profile is cached.
Exposures are recorded only for shoppers whose consent allows analytics. Any failure of a
dependency degrades to a rule-filtered fallback, flagged in the answer, never an error.

A shopper with no history at all (no profile events, no session events, no cart, no product on
the page) is not scored by the session model, which would only rank its global favourites: the
fallback rule answers, and its items say what they are (``popular``, ``trending``,
``popular_in_category:<name>``). A ``product_id`` that is not in the catalog (a shop whose
catalog sync lags behind its pages) is ignored as context and the answer flags it in
``degraded`` as ``unknown_product``; the item-to-item lists (:meth:`Recommendations.similar`)
refuse it instead, for they have nothing else to go on.

A request from a browser (a write key, ``RecommendationRequest.browser``) is answered from what
that browser may see: a profile its anonymous id owns, or one it is linked to by a verified link
(``ProfileState.verified_ids``), or the profile of a user id the API checked the user hash of.
A browser that merely claimed a user id is served from its own session events alone, and the
answer's reason codes are the coarse public ones (:func:`shopwise.decide.public_reasons`).

Experiments: a shopper whose consent allows personalization and analytics is put to the injected
:class:`~shopwise.serving.Assigner` under their canonical profile id (a visitor with no profile
yet: the id their profile will get), and the :class:`~shopwise.serving.Treatment` it answers is
served whole or not at all (:class:`~shopwise.serving._experiments.Arms`): another model version,
the popularity baseline (the rules' fallback, not personalized, reporting no model version),
another rule or content set, a banner or a section order. A model-version variant is served the
way the champion is: where the worker precomputed the shopper's list, the variant's full model
scores the same profile history at request time (remembered per history) and is fused with its
session candidates under the same freshness rule, so neither arm gains from how it is served. The
answer, and so its exposure row, names the experiment and variant; cached answers are keyed on the
treatment, so variants never share one. An experiment that changes no product list (content set,
banner, section order: ``Treatment.in_recommendations`` false) is shown by ``/v1/decide`` alone:
plain recommendation answers stay outside it. ``/similar`` and ``/complementary`` stay outside
experiments.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from shopwise.bus import StoredEvent
from shopwise.catalog import Catalog, Product
from shopwise.collect import system_row
from shopwise.decide import (
    NEWEST,
    POPULAR_IN_CATEGORY,
    POPULAR_OVERALL,
    TRENDING,
    Candidate,
    ContentSet,
    Filler,
    Landing,
    RuledList,
    RuleEngine,
    RuleSet,
    ShopperContext,
    VersionedStore,
    public_reason,
    public_reasons,
)
from shopwise.errors import NotFound
from shopwise.privacy import Choices, ConsentPolicy, event_allows
from shopwise.profiles import (
    Profiles,
    ProfileState,
    anon_key,
    latest,
    profile_id_for,
    user_key,
)
from shopwise.recommend import (
    Precomputed,
    RecommenderArtifact,
    profile_products,
    rank_related,
    similar_neighbours,
    top_n,
)
from shopwise.recommend.candidates import FloatArray, IntArray
from shopwise.recommend.lists import CandidateLists
from shopwise.registry import Champion
from shopwise.schema import EventType, Purpose, served_at
from shopwise.serving._answers import AnswerCache
from shopwise.serving._experiments import Arm, Arms, Assigner, Models, named_block
from shopwise.serving._online import OnlineState, RecentItem
from shopwise.serving._related import CategoryIndex, content_neighbours, walk
from shopwise.serving._sessions import SessionCandidates

log = logging.getLogger("shopwise.serving")

Shopper = tuple[str, ProfileState]
"""(canonical profile id, profile state) of the requesting shopper."""

CANDIDATES = 100
SIMILAR_LEARNED = "similar:learned"
"""Reason of ``/similar``'s neighbours from the learned ranker (``artifact.similar``)."""
PRECOMPUTED_WEIGHT = 0.5
"""Weight of the long-term precomputed list against the fresh session list (weight 1)."""
LONG_TERM_HISTORY = 50
"""Most recent profile products a long-term list is scored on (the worker's history length)."""


class RecommendationRequest(NamedTuple):
    """What a page slot asks for. A named tuple: made, hashed and compared in C, for it is made
    on every request and keys the answer cache."""

    placement: str
    n: int = 10
    user_id: str | None = None
    anonymous_id: str | None = None
    product_id: str | None = None
    cart: tuple[str, ...] = ()
    category: str | None = None
    query: str | None = None
    browser: bool = False
    """Asked with a write key, from a shopper's browser (see module docstring)."""


class Answer(NamedTuple):
    """A ruled list as the API shows it, without a recommendation id: what the answer cache keeps,
    shared by every response made from it (so never changed)."""

    product_ids: tuple[str, ...]
    """A tuple: once the collector has seen it, it is untracked, and so are the exposure rows
    that hold it (buffered until the exposure log's next hand-over, they would otherwise fill
    the young GC generation)."""
    fields: dict[str, Any]
    """:meth:`Served.public` without the recommendation id."""
    rest: bytes
    """``fields`` as JSON after the opening brace, rendered once for every response made from
    the answer (see :meth:`Served.json`)."""


@dataclass(frozen=True, slots=True)
class Served:
    """One response: an answer (items with reasons, and what produced them) and its own
    recommendation id."""

    recommendation_id: str
    answer: Answer

    def public(self) -> dict[str, Any]:
        """The response as the API shows it: ``recommendation_id``, ``placement``, ``items``
        (``product_id``, ``score``, ``reasons``), ``model_version``, ``rules_version``,
        ``rules_fired``, ``fallback``, ``degraded`` and ``experiment``."""
        return {"recommendation_id": self.recommendation_id, **self.answer.fields}

    def json(self) -> bytes:
        """:meth:`public` as JSON, made by splicing the id into the answer's rendered rest."""
        return (
            b'{"recommendation_id":"' + self.recommendation_id.encode() + b'",' + self.answer.rest
        )


Exposure = Callable[[tuple[RecommendationRequest, Served]], None]
"""Records one served answer for storage without waiting (its row: :func:`exposure_rows`)."""


class Recommendations:
    """Serving of recommendations and decisions (see module docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        profiles: Profiles,
        online: OnlineState,
        champion: Champion[RecommenderArtifact],
        precomputed: Champion[Precomputed],
        lists: CandidateLists,
        rules: VersionedStore[RuleSet],
        content: VersionedStore[ContentSet],
        consent: ConsentPolicy,
        exposure: Exposure,
        answers: AnswerCache[Answer] | None = None,
        assign: Assigner | None = None,
        models: Models | None = None,
    ) -> None:
        """``assign``: picks shoppers' experiment treatments (``None``: no experiments);
        ``models``: loads a recommender registry version for a variant (cached by the caller)."""
        self._catalog = catalog
        self._profiles = profiles
        self._online = online
        self._champion = champion
        self._precomputed = precomputed
        self._lists = lists
        self._rules = rules
        self._content = content
        self._consent = consent
        self._exposure = exposure
        self._engine = RuleEngine(catalog.snapshot, self._fallback_items)
        self._arms = Arms(
            assign,
            models,
            rules,
            content,
            lambda: RuleEngine(catalog.snapshot, self._fallback_items),
        )
        self._sessions = SessionCandidates()
        # a model-version experiment's artifact has its own, so the two do not clear each other
        self._variant_sessions = SessionCandidates()
        self._variant_lists = SessionCandidates()
        """A variant model's full-model lists by profile history (its precomputed lists)."""
        self._categories = CategoryIndex()
        self._answers: AnswerCache[Answer] = answers or AnswerCache()
        # a swap drops what was built from the replaced champion in the reload thread
        champion.on_swap(self._retire)
        precomputed.on_swap(self._answers.retire)
        # recommendation ids only need to be unique, not secret: skip the OS entropy per request
        self._ids = random.Random()

    # -- consent ----------------------------------------------------------------------------

    def committed(self, events: Sequence[StoredEvent]) -> None:
        """Called with every group commit, before the clients are answered: the events' consent
        statements hold from now on, and the product events of shoppers who allow
        personalization join their session state (a refusal drops what it held)."""
        self._online.note_consent(events)
        kept = []
        for event in events:
            if event.product_id is None:
                continue
            if self._personal_event(event):
                kept.append(event)
            else:
                self._online.forget(event.anonymous_id, event.user_id)
        self._online.record(kept)

    def _personal_event(self, event: StoredEvent) -> bool:
        """Whether an event may feed personalization: its own statement and the shopper's choices
        as known in memory (the cached profile and the statements committed since) allow it."""
        if not event_allows(event.context, Purpose.PERSONALIZATION):
            return False
        state = None
        for any_id in (event.user_id, event.anonymous_id):
            if any_id is not None:
                hit, cached = self._profiles.cache.get(any_id)
                if hit and cached is not None:
                    state = cached[1]
                    break
        choices = self._choices(event.anonymous_id, event.user_id, state)
        return self._consent.allows(choices, Purpose.PERSONALIZATION)

    def _choices(
        self, anonymous_id: str | None, user_id: str | None, state: ProfileState | None
    ) -> Choices:
        """The shopper's consent: the profile's choices overlaid with the statements committed
        since, which the profile consumer may not have folded in yet."""
        fresh = self._online.consent(anonymous_id, user_id)
        if state is None:
            return fresh
        return latest(state.consent, fresh) if fresh else state.consent

    def clear_memory(self) -> None:
        """Forget what serving holds of shoppers (an erasure): session state and consent
        statements, remembered answers and session histories."""
        self._online.clear()
        self._answers.clear()
        self._sessions.clear()
        self._variant_sessions.clear()
        self._variant_lists.clear()

    def _retire(self, artifact: RecommenderArtifact) -> None:
        """Forget the answers and session lists of a replaced champion artifact."""
        self._answers.retire(artifact)
        self._sessions.retire(artifact)

    def holds(self, anonymous_ids: Sequence[str], user_ids: Sequence[str]) -> bool:
        """Whether serving's memory still holds anything of these identities."""
        if self._online.holds(anonymous_ids, user_ids):
            return True
        ids = {*anonymous_ids, *user_ids}
        return any(
            isinstance(request, RecommendationRequest)
            and bool({request.anonymous_id, request.user_id} & ids)
            for request in map(_request_of, self._answers.requests())
        )

    # -- context ----------------------------------------------------------------------------

    def _view(self, request: RecommendationRequest, degraded: list[str]) -> Shopper | None:
        any_id = request.user_id or request.anonymous_id
        if any_id is None:
            return None
        try:
            view = self._profiles.current(any_id)
        except Exception:  # boundary: a store outage degrades to a profile-less answer
            log.exception("profile lookup failed; serving without the profile")
            degraded.append("profile_unavailable")
            return None
        if request.browser and request.user_id is None and not _owned(view, any_id):
            return None  # a claimed link: the browser's own session events only
        return view

    def context(
        self,
        request: RecommendationRequest,
        view: Shopper | None,
        scores: dict[str, float] | None = None,
        now: datetime | None = None,
    ) -> ShopperContext:
        return ShopperContext(
            placement=request.placement,
            now=now or datetime.now(UTC),
            profile=view[1] if view else None,
            category=request.category,
            product_id=request.product_id,
            cart=request.cart,
            query=request.query,
            scores=scores or {},
        )

    def _history(
        self, request: RecommendationRequest, ctx: ShopperContext, recent: list[RecentItem]
    ) -> tuple[str, ...]:
        entries = profile_products(ctx.profile) if ctx.profile is not None else []
        entries += [(ts, pid) for ts, _type, pid in recent]
        products = [pid for _ts, pid in sorted(set(entries))]
        products += list(request.cart)
        if request.product_id:
            products.append(request.product_id)
        return tuple(products[-50:])

    # -- candidates -------------------------------------------------------------------------

    def _model_candidates(
        self,
        arm: Arm,
        artifact: RecommenderArtifact,
        request: RecommendationRequest,
        view: Shopper | None,
        ctx: ShopperContext,
        recent: list[RecentItem],
    ) -> list[Candidate]:
        """The worker's precomputed list fused with request-time session candidates.

        The session generator runs when the shopper did something since the precomputation (or
        has no precomputed list), so a view ingested milliseconds ago changes the answer. A
        variant model (``arm.rescored``) puts its own full-model list in place of the worker's.
        """
        precomputed = arm.precomputed
        stored = (
            self._lists.get(precomputed.model_version, view[0]) if precomputed and view else None
        )
        listed = None
        if stored is not None and precomputed is not None:
            listed = (stored.items, stored.scores, [f"precomputed:{precomputed.model_name}"])
        if listed is not None and view is not None and arm.rescored:
            listed = self._variant_list(artifact, view[1])
        since = stored.computed_at if stored is not None else 0
        fresh = any(ts > since for ts, _type, _pid in recent)
        ranked: list[tuple[list[Candidate], float]] = []
        if listed is not None:
            # one reason list for all: the rule engine never changes one in place
            items, scores, reason = listed
            long_term = [Candidate(p, s, reason) for p, s in zip(items, scores, strict=True)]
            ranked.append((long_term, PRECOMPUTED_WEIGHT))
        if fresh or request.cart or request.product_id or listed is None:
            history = self._history(request, ctx, recent)
            if history:  # no history: the fallback rule answers, saying what its items are
                ranked.append((self._session_candidates(artifact, history), 1.0))
        return _fuse(ranked)

    def _variant_list(
        self, artifact: RecommenderArtifact, state: ProfileState
    ) -> tuple[list[str], list[float], list[str]]:
        """What the worker would precompute for this profile with a variant's full model: its
        ranked list for the profile's recent products, scored now (remembered per history), and
        the reason each product has."""
        history = tuple(pid for _ts, pid in sorted(profile_products(state)))[-LONG_TERM_HISTORY:]
        model = artifact.model
        scored = self._variant_lists.get(artifact, history)
        if scored is None:
            indices = artifact.items.encode(list(history))
            items, values = top_n(model.score([indices])[0], CANDIDATES, indices)
            scored = [
                (artifact.items.ids[int(i)], float(v)) for i, v in zip(items, values, strict=True)
            ]
            self._variant_lists.put(artifact, history, scored)
        return [pid for pid, _ in scored], [v for _, v in scored], [f"precomputed:{model.name}"]

    def _session_candidates(
        self, artifact: RecommenderArtifact, history: tuple[str, ...]
    ) -> list[Candidate]:
        model = artifact.session_model
        sessions = self._sessions if artifact is self._champion.get() else self._variant_sessions
        scored = sessions.get(artifact, history)
        if scored is None:
            indices = artifact.items.encode(list(history))
            items, values = top_n(model.score([indices])[0], CANDIDATES, indices)
            scored = [
                (artifact.items.ids[int(i)], float(v)) for i, v in zip(items, values, strict=True)
            ]
            sessions.put(artifact, history, scored)
        reason = [f"session:{model.name}"]
        return [Candidate(pid, score, reason) for pid, score in scored]

    def _fallback_items(self, source: str, ctx: ShopperContext) -> Filler:
        """The fallback rule's ``source`` for ``ctx``, each item with the reason that says what
        it is (see :data:`shopwise.decide.REASON_CODES`)."""
        artifact = self._champion.get()
        if artifact is None:
            return _labelled(_catalog_order(self._catalog.snapshot(), ctx.category), NEWEST)
        popular = artifact.popular
        if source == "trending":
            return _labelled(popular.trending, TRENDING)
        overall = _labelled(popular.overall, POPULAR_OVERALL)
        if source == "popular_in_category":
            category = ctx.category or ctx.top_category()
            leaf = category.split(" > ")[-1] if category else None
            if leaf and leaf in popular.by_category:
                label = f"{POPULAR_IN_CATEGORY}:{leaf}"
                return itertools.chain(_labelled(popular.by_category[leaf], label), overall)
        return overall

    # -- answers ----------------------------------------------------------------------------

    def recommend(self, request: RecommendationRequest) -> Served:
        """Products for a placement (see module docstring)."""
        return self._recommend(request, decide=False)[0]

    def _recommend(
        self, request: RecommendationRequest, decide: bool, preview: bool = False
    ) -> tuple[Served, Shopper | None, Choices, Arm]:
        """The served answer, the shopper as personalization may use it (``None`` without
        consent), the shopper's consent choices and the arm that served the answer; ``decide``:
        asked for :meth:`decide`, which shows every experiment (a plain answer only those that
        change product lists); ``preview``: an operator looking, not the shopper: no exposure
        is logged and no experiment assigns the shopper (the answer is the one outside them)."""
        degraded: list[str] = []
        if request.product_id is not None and request.product_id not in self._catalog.snapshot():
            degraded.append("unknown_product")
            request = request._replace(product_id=None)
        now = datetime.now(UTC)
        view = self._view(request, degraded)
        choices = self._choices(request.anonymous_id, request.user_id, view[1] if view else None)
        personal = self._consent.allows(choices, Purpose.PERSONALIZATION)
        analytics = self._consent.allows(choices, Purpose.ANALYTICS)
        if personal:
            recent = self._online.recent(request.anonymous_id, request.user_id)
        else:
            self._online.forget(request.anonymous_id, request.user_id)
            view, recent = None, []
        rules = self._rules.live()
        artifact = self._champion.get()
        precomputed = self._precomputed.get()
        facts, active = self._engine.inputs(rules.value, request.placement, now)
        # an answer shows the model and rule versions: a new version is a new generation
        generation = (artifact, precomputed, rules, facts)
        inputs: tuple[object, ...] = (view, recent, active)
        # without consent the answer holds nothing of the shopper's: one entry serves them all
        key: object = request if personal else request._replace(anonymous_id=None, user_id=None)
        arm = Arm(None, artifact, self._champion.version, precomputed, rules, self._engine)
        if personal and analytics and self._arms.enabled and not preview:
            arm = self._arm(request, view, arm, degraded, decide)
        if arm.treatment is not None:
            # variants never share an answer; what a variant serves is compared per entry, so
            # shoppers of different variants do not turn the generation over
            key = (key, arm.treatment)
            inputs = (*inputs, arm, *arm.engine.inputs(arm.rules.value, request.placement, now))
        answer = None if degraded else self._answers.get(key, generation, inputs)
        if answer is None:
            ctx = self.context(request, None if arm.popular else view, now=now)
            ruled = self._rule(request, view, ctx, arm, recent, personal, degraded)
            answer = self._answer(
                request,
                ruled,
                arm.artifact,
                arm.rules.version,
                personal and not arm.popular,
                degraded,
                arm,
            )
            if not degraded:
                self._answers.put(key, generation, inputs, answer)
        served = Served(self._new_id(), answer)
        if analytics and not preview:
            self._log_exposure(request, served)
        return served, view, choices, arm

    def _arm(
        self,
        request: RecommendationRequest,
        view: Shopper | None,
        control: Arm,
        degraded: list[str],
        decide: bool,
    ) -> Arm:
        """The arm of the shopper's experiment treatment at the placement, else ``control``.

        The unit is the canonical profile id, or for a shopper with no profile yet the id their
        profile will get (so an identity merge later keeps the bucket). A failed profile read
        enters no experiment: the profile the shopper has is unknown. Outside ``decide``, an
        experiment that changes no product list is not entered: the answer shows none of it.
        """
        if view is not None:
            unit = view[0]
        elif "profile_unavailable" in degraded:
            return control
        elif request.user_id is not None:
            unit = profile_id_for(user_key(request.user_id))
        elif request.anonymous_id is not None:
            unit = profile_id_for(anon_key(request.anonymous_id))
        else:
            return control
        treatment = self._arms.treatment(request.placement, unit)
        if treatment is None or not (decide or treatment.in_recommendations):
            return control
        return self._arms.resolve(treatment, control, degraded)

    def _rule(
        self,
        request: RecommendationRequest,
        view: Shopper | None,
        ctx: ShopperContext,
        arm: Arm,
        recent: list[RecentItem],
        personal: bool,
        degraded: list[str],
    ) -> RuledList:
        """The arm's model candidates for the request after its rules (fallbacks when it fails);
        without ``personal`` consent, or in a popularity variant, the rules' fallback alone."""
        candidates: list[Candidate] = []
        artifact = arm.artifact
        use_model = personal and not arm.popular
        model_ok = use_model and artifact is not None
        if use_model and artifact is None:
            degraded.append("model_missing")
        elif use_model and artifact is not None:
            try:
                candidates = self._model_candidates(arm, artifact, request, view, ctx, recent)
            except Exception:  # boundary: a failing model degrades to the fallback rules
                log.exception("model scoring failed; serving the fallback")
                degraded.append("model_failed")
                model_ok = False
        exclude = set(request.cart) | ({request.product_id} if request.product_id else set())
        return arm.engine.apply(
            arm.rules.value, candidates, ctx, request.n, exclude, model_ok, owned=True
        )

    def _answer(
        self,
        request: RecommendationRequest,
        ruled: RuledList,
        artifact: RecommenderArtifact | None,
        rules_version: int,
        personalized: bool,
        degraded: list[str],
        arm: Arm | None = None,
    ) -> Answer:
        """The answer's fields; ``arm``: what served it (``None``: the champion, no
        experiment)."""
        if artifact is None or (arm is not None and arm.popular):
            model_version = None  # a popularity answer ranks with no model
        else:
            model_version = arm.model_version if arm is not None else self._champion.version
        treatment = arm.treatment if arm is not None else None
        fields = {
            "placement": request.placement,
            "items": [
                {
                    "product_id": c.product_id,
                    "score": round(c.score, 6),
                    "reasons": public_reasons(c.reasons) if request.browser else c.reasons,
                }
                for c in ruled.items
            ],
            "model_version": model_version,
            "rules_version": rules_version,
            "rules_fired": ruled.rules_fired,
            "fallback": ruled.fallback,
            "personalized": personalized,
            "degraded": degraded,
            "experiment": (
                None
                if treatment is None
                else {"id": treatment.experiment, "variant": treatment.variant}
            ),
        }
        rest = orjson.dumps(fields, option=orjson.OPT_SERIALIZE_NUMPY)[1:]
        return Answer(tuple(c.product_id for c in ruled.items), fields, rest)

    def _new_id(self) -> str:
        """A recommendation id: 32 hex digits, the serving time (ms) first (see
        :func:`shopwise.schema.served_at`).

        Time-ordered ids keep the exposure rows' unique index appending at its end instead of
        touching a random page per row, like UUIDv7.
        """
        return f"{time.time_ns() // 1_000_000:012x}{self._ids.getrandbits(80):020x}"

    def similar(
        self, product_id: str, n: int, complementary: bool, browser: bool = False
    ) -> Served:
        """Products like ``product_id`` (the learned ranker's neighbours, else viewed next to
        it, closest category first) or complementary to it (the complementary model's
        neighbours, other leaf categories first), in the served order of
        :func:`shopwise.recommend.rank_related`, completed up to ``n`` by the product's category
        walk (:mod:`shopwise.serving._related`); ``browser``: asked with a write key (public
        reasons).

        Raises
        ------
        NotFound
            ``unknown_product`` when ``product_id`` is not in the catalog.
        """
        snapshot = self._catalog.snapshot()
        product = snapshot.get(product_id)
        if product is None:
            message = f"product_id: {product_id!r} is not in the catalog"
            detail = {"field": "product_id", "code": "unknown_product", "message": message}
            raise NotFound(message, code="unknown_product", details=[detail])
        request = RecommendationRequest(
            placement="product", n=n, product_id=product_id, browser=browser
        )
        degraded: list[str] = []
        ctx = self.context(request, None)
        artifact = self._champion.get()
        candidates: list[Candidate] = []
        if artifact is None:
            degraded.append("model_missing")
        else:
            candidates = _related(artifact, snapshot, product, complementary)
        levels = self._categories.levels(snapshot, artifact.popular if artifact else None)
        fill = walk(levels, product, complementary)
        rules = self._rules.live()
        # a similar list is one category by definition: the per-category cap would cut it short
        ruled = self._engine.apply(
            rules.value, candidates, ctx, n, {product_id}, fill=fill, capped=complementary
        )
        answer = self._answer(request, ruled, artifact, rules.version, False, degraded)
        return Served(self._new_id(), answer)

    def decide(
        self,
        request: RecommendationRequest,
        scores: dict[str, float],
        segments: tuple[str, ...] = (),
        landing: Landing | None = None,
        *,
        preview: bool = False,
    ) -> dict[str, Any]:
        """One call for a page slot: products, banner, triggered message, section order.

        ``scores`` (model scores by name) and ``segments`` (segment and audience names) come
        from the customer-intelligence stage and feed thresholds and audience conditions;
        ``landing`` (campaign, referrer, device) feeds the landing conditions. Without
        personalization consent none of the shopper's data (profile, scores, segments) shapes
        the slot; a triggered message also needs marketing consent. An experiment variant may
        set the content set, the banner and the section order (reason
        ``experiment:<id>:<variant>``). ``preview``: the operator's look at what the shopper
        would get, logged nowhere and outside experiments (see :meth:`_recommend`).
        """
        served, view, choices, arm = self._recommend(request, decide=True, preview=preview)
        personal = self._consent.allows(choices, Purpose.PERSONALIZATION)
        if not personal or (request.browser and view is None):
            # a browser without a profile of its own may hold a claimed link: the scores and
            # segments of the user it claimed are not its to shape the slot
            scores, segments = {}, ()
        ctx = replace(
            self.context(request, view, scores), segments=segments, landing=landing or Landing()
        )
        content = arm.content or self._content.live()
        banner = content.value.pick(ctx, "banner")
        message = None
        if personal and self._consent.allows(choices, Purpose.MARKETING):
            message = content.value.pick(ctx, "message")
        layout = content.value.layout(ctx)
        treatment = arm.treatment
        if treatment is not None:
            reason = f"experiment:{treatment.experiment}:{treatment.variant}"
            block = named_block(content.value, treatment.banner) if treatment.banner else None
            if block is not None:
                banner = (block, [reason])
            if treatment.layout is not None:
                layout = _reordered(layout, treatment.layout, reason)
        return {
            **served.public(),
            "content_version": content.version,
            "banner": _block(banner, request.browser),
            "message": _block(message, request.browser),
            "layout": _public_layout(layout) if request.browser else layout,
        }

    def _log_exposure(self, request: RecommendationRequest, served: Served) -> None:
        if not served.answer.product_ids or not (request.anonymous_id or request.user_id):
            return
        try:
            self._exposure((request, served))
        except Exception:  # boundary: exposure logging must never fail a response
            log.exception("exposure logging failed")


def exposure_rows(batch: list[tuple[RecommendationRequest, Served]]) -> list[dict[str, Any]]:
    """The ``recommendation_viewed`` event rows of served answers (made off the request path)."""
    rows = []
    for request, served in batch:
        rid, answer = served.recommendation_id, served.answer
        served_time = served_at(rid)
        assert served_time is not None  # serving's own ids always carry their time
        properties = {
            "recommendation_id": rid,
            "product_ids": answer.product_ids,
            "placement": answer.fields["placement"],
            "model_version": answer.fields["model_version"],
            "rules_version": answer.fields["rules_version"],
            "fallback": answer.fields["fallback"],
        }
        experiment = answer.fields["experiment"]
        if experiment is not None:
            properties["experiment"] = experiment["id"]
            properties["variant"] = experiment["variant"]
        rows.append(
            system_row(
                f"exp-{rid}",
                EventType.RECOMMENDATION_VIEWED,
                request.anonymous_id,
                request.user_id,
                served_time,
                properties,
            )
        )
    return rows


def _request_of(key: Hashable) -> Hashable:
    """The request of an answer-cache key (a treated answer's key is (request, treatment))."""
    if isinstance(key, RecommendationRequest) or not isinstance(key, tuple):
        return key
    request: Hashable = key[0]
    return request


def _reordered(
    sections: list[dict[str, Any]], names: tuple[str, ...], reason: str
) -> list[dict[str, Any]]:
    """An experiment's section order: those of its sections the placement has first, in its
    order, then the others (a name the placement has no section of adds none)."""
    by_name = {section["name"]: section for section in sections}
    first = [{**by_name[n], "reason": reason} for n in dict.fromkeys(names) if n in by_name]
    return first + [section for section in sections if section["name"] not in names]


def _owned(view: Shopper | None, anonymous_id: str) -> bool:
    """Whether a browser may be served ``view``, found by its anonymous id: its own profile, or
    one it joined by a verified link (no profile at all is trivially its own)."""
    if view is None:
        return True
    profile, state = view
    return profile == profile_id_for(anon_key(anonymous_id)) or anonymous_id in state.verified_ids


def _public_layout(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A layout as a browser may read it: a targeted section's reason code (a segment, say)
    becomes its public reason; ``affinity`` and ``default`` name nothing of the shopper's."""
    kept = ("affinity", "default")
    return [
        s if s["reason"] in kept else {**s, "reason": public_reason(s["reason"])} for s in sections
    ]


def _block(picked: tuple[Any, list[str]] | None, browser: bool) -> dict[str, Any] | None:
    if picked is None:
        return None
    block, reasons = picked
    shown = public_reasons(reasons) if browser else reasons
    return {"name": block.name, "kind": block.kind, "content": block.content, "reasons": shown}


def _catalog_order(
    snapshot: Mapping[str, Product], category: str | None
) -> list[tuple[str, float]]:
    """With no model at all: newest in-stock products (of the category first)."""
    ordered = sorted(snapshot.values(), key=lambda p: (p.created_at, p.id), reverse=True)
    if category:
        ordered.sort(key=lambda p: category not in p.category)
    return [(p.id, 0.0) for p in ordered[:CANDIDATES]]


def _related(
    artifact: RecommenderArtifact,
    snapshot: Mapping[str, Product],
    product: Product,
    complementary: bool,
) -> list[Candidate]:
    """The model's related items of ``product`` in the served order (:func:`rank_related`):
    complementary from the complementary model (EASE) when the artifact has one, else from the
    production model; similar from the learned ranker's neighbours in its own order when the
    artifact has them, else from the transition generator in both directions (closest category
    first), then the product's content neighbours (:func:`content_neighbours`), all a product
    has that the model never saw."""
    position = artifact.items.positions.get(product.id)
    if position is None:
        if complementary:
            return []
        return content_neighbours(artifact, snapshot, product, [], CANDIDATES)
    items, scores, reason = _related_source(artifact, position, complementary)
    ranked = rank_related(
        [artifact.items.ids[int(i)] for i in items],
        [float(s) for s in scores],
        product.category,
        lambda pid: _category(snapshot, pid),
        complementary,
        learned=reason == SIMILAR_LEARNED,
    )
    candidates = [Candidate(pid, score, [reason]) for pid, score in ranked]
    if not complementary:
        candidates += content_neighbours(artifact, snapshot, product, candidates, CANDIDATES)
    return candidates


def _related_source(
    artifact: RecommenderArtifact, position: int, complementary: bool
) -> tuple[IntArray, FloatArray, str]:
    """The neighbours of the trained item at ``position`` that the route ranks, best first, and
    their reason code."""
    if complementary:
        model = artifact.complements or artifact.model
        items, scores = model.similar_items(position, CANDIDATES)
        return items, scores, "complementary:co-visited"
    if artifact.similar is not None:
        items, scores = artifact.similar.similar_items(position, CANDIDATES)
        return items, scores, SIMILAR_LEARNED
    items, scores = similar_neighbours(artifact.session_model, position, CANDIDATES)
    return items, scores, "similar:co-viewed"


def _category(snapshot: Mapping[str, Product], product_id: str) -> Sequence[str]:
    product = snapshot.get(product_id)
    return product.category if product is not None else ()


def _labelled(ranked: Sequence[tuple[str, float]], reason: str) -> Iterator[tuple[str, float, str]]:
    return ((product_id, score, reason) for product_id, score in ranked)


def _fuse(ranked: list[tuple[list[Candidate], float]], k: float = 1.0) -> list[Candidate]:
    """Weighted reciprocal-rank fusion; each item keeps the reasons of every list holding it.

    With ``k = 1`` the head of the heaviest list stays on top, so fresh session intent leads
    and the precomputed long-term list supports and fills.
    """
    if len(ranked) == 1:
        return ranked[0][0]
    fused: dict[str, Candidate] = {}
    for candidates, weight in ranked:
        for rank, candidate in enumerate(candidates):
            entry = fused.setdefault(candidate.product_id, Candidate(candidate.product_id, 0.0, []))
            entry.score += weight / (k + rank)
            entry.reasons += [r for r in candidate.reasons if r not in entry.reasons]
    return sorted(fused.values(), key=lambda c: -c.score)
