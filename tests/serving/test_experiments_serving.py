"""Experiments in serving: the assigner's treatment is served whole or not at all, named in the
answer and its exposure row, and never shares a cached answer with another variant."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests._clock import Clock

from shopwise.decide import RuleSet, VersionedStore
from shopwise.privacy import ConsentPolicy
from shopwise.profiles import anon_key, profile_id_for
from shopwise.recommend import RecommenderArtifact
from shopwise.runtime import Runtime
from shopwise.serving import (
    AnswerCache,
    ModelVersions,
    RecommendationRequest,
    Recommendations,
    Served,
    Treatment,
    exposure_rows,
)

Shop = tuple[TestClient, Runtime, dict[str, dict[str, str]]]
Logged = list[tuple[RecommendationRequest, Served]]

B = Treatment("exp1", "b")
POPULAR = Treatment("exp1", "holdout", popular=True)
HOME = RecommendationRequest("home", n=5, anonymous_id="s1")  # a shopper with a history


class FakeAssigner:
    """Answers ``treatment`` for every shopper (or fails), remembering whom it was asked for."""

    def __init__(self, treatment: Treatment | None, fail: bool = False) -> None:
        self.treatment = treatment
        self.fail = fail
        self.asked: list[tuple[str, str]] = []

    def __call__(self, placement: str, profile_id: str) -> Treatment | None:
        self.asked.append((placement, profile_id))
        if self.fail:
            raise RuntimeError("assignment store unreachable")
        return self.treatment


class Reversed:
    """A session model ranking the other way round: a variant whose answers are recognizable."""

    name = "reversed"

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def score(self, histories: Any) -> np.ndarray[Any, Any]:
        return -np.asarray(self.inner.score(histories))


def _serving(
    runtime: Runtime,
    assign: FakeAssigner | None,
    models: Any = None,
    consent: ConsentPolicy | None = None,
    answers: AnswerCache[Any] | None = None,
) -> tuple[Recommendations, Logged]:
    logged: Logged = []
    service = Recommendations(
        runtime.catalog,
        runtime.profiles,
        runtime.online,
        runtime.champion,
        runtime.precomputed,
        runtime.candidate_lists,
        runtime.rules,
        runtime.content,
        consent or runtime.consent,
        exposure=logged.append,
        answers=answers,
        assign=assign,
        models=models,
    )
    return service, logged


def _ids(served: Served) -> list[str]:
    return list(served.answer.product_ids)


def _reasons(served: Served) -> set[str]:
    return {r for item in served.public()["items"] for r in item["reasons"]}


def test_a_treated_answer_and_its_exposure_name_the_experiment_and_variant(shop: Shop) -> None:
    _client, runtime, _keys = shop
    assigner = FakeAssigner(B)
    service, logged = _serving(runtime, assigner)
    served = service.recommend(HOME)
    assert served.public()["experiment"] == {"id": "exp1", "variant": "b"}
    view = runtime.profiles.current("s1")
    assert view is not None and assigner.asked == [("home", view[0])]  # the canonical profile
    (row,) = exposure_rows(logged)
    assert row["properties"]["experiment"] == "exp1" and row["properties"]["variant"] == "b"
    assert row["properties"]["recommendation_id"] == served.recommendation_id


def test_a_visitor_without_a_profile_is_assigned_under_the_id_their_profile_will_get(
    shop: Shop,
) -> None:
    _client, runtime, _keys = shop
    assigner = FakeAssigner(B)
    service, _logged = _serving(runtime, assigner)
    served = service.recommend(RecommendationRequest("home", n=3, anonymous_id="newcomer"))
    assert assigner.asked == [("home", profile_id_for(anon_key("newcomer")))]
    assert served.public()["experiment"] == {"id": "exp1", "variant": "b"}


def test_outside_experiments_answers_and_exposures_carry_none(shop: Shop) -> None:
    _client, runtime, _keys = shop
    service, logged = _serving(runtime, FakeAssigner(None))
    assert service.recommend(HOME).public()["experiment"] is None
    (row,) = exposure_rows(logged)
    assert "experiment" not in row["properties"] and "variant" not in row["properties"]


def test_a_preview_assigns_no_one_and_logs_no_exposure(shop: Shop) -> None:
    _client, runtime, _keys = shop
    assigner = FakeAssigner(B)
    service, logged = _serving(runtime, assigner)
    decision = service.decide(HOME, {}, preview=True)  # the dashboard's look at a shopper
    assert decision["experiment"] is None and decision["items"]
    assert assigner.asked == [] and logged == []
    service.decide(HOME, {})  # the shopper's own page
    assert assigner.asked and len(logged) == 1


def test_the_popular_variant_serves_the_rules_fallback_list(shop: Shop) -> None:
    _client, runtime, _keys = shop
    control = _serving(runtime, None)[0].recommend(HOME)
    assert control.public()["personalized"] is True and control.public()["fallback"] is None
    service, _logged = _serving(runtime, FakeAssigner(POPULAR))
    served = service.recommend(HOME)
    body = served.public()
    assert body["experiment"] == {"id": "exp1", "variant": "holdout"}
    assert body["personalized"] is False and body["fallback"] and body["degraded"] == []
    # the list a shopper with no history gets: popularity, nothing of the shopper's
    anonymous = _serving(runtime, None)[0].recommend(RecommendationRequest("home", n=5))
    assert _ids(served) == _ids(anonymous) != _ids(control)
    assert not any(r.startswith(("session:", "precomputed:")) for r in _reasons(served))


def test_a_model_version_variant_serves_that_versions_model(shop: Shop) -> None:
    _client, runtime, _keys = shop
    champion = runtime.champion.get()
    assert champion is not None
    variant = dataclasses.replace(
        champion, model=Reversed(champion.model), session_model=Reversed(champion.session_model)
    )
    loaded: list[str] = []

    def models(version: str) -> RecommenderArtifact | None:
        loaded.append(version)
        return variant if version == "v-reversed" else None

    service, logged = _serving(runtime, FakeAssigner(Treatment("exp1", "b", "v-reversed")), models)
    served = service.recommend(HOME)
    body = served.public()
    assert body["model_version"] == "v-reversed" and body["degraded"] == []
    control = _serving(runtime, None)[0].recommend(HOME)
    assert _ids(served) != _ids(control)
    # review 4: served the way the champion is, its full model's list in place of the worker's
    assert _reasons(control) == {f"precomputed:{champion.model.name}"}
    assert _reasons(served) == {"precomputed:reversed"}
    # and on a product page, both fuse in their session candidates alike
    page = HOME._replace(product_id="k7")
    fresh_control = _serving(runtime, None)[0].recommend(page)
    fresh = service.recommend(page)
    assert _reasons(fresh_control) == {
        f"precomputed:{champion.model.name}",
        f"session:{champion.session_model.name}",
    }
    assert _reasons(fresh) == {"precomputed:reversed", "session:reversed"}
    assert exposure_rows(logged)[0]["properties"]["model_version"] == "v-reversed"
    assert set(loaded) == {"v-reversed"}


def test_model_versions_loads_a_saved_version_and_forgets_on_erasure(shop: Shop) -> None:
    _client, runtime, _keys = shop
    champion = runtime.champion.get()
    assert champion is not None
    version = runtime.recommenders.save(champion, {"model": "copy"}, promote=False)
    models = ModelVersions(runtime.recommenders)
    loaded = models(version)
    assert isinstance(loaded, RecommenderArtifact) and loaded is not champion
    assert models(version) is loaded  # kept
    assert models("20990101T000000000Z") is None
    broken = runtime.recommenders.save({"not": "a recommender"}, {}, promote=False)
    assert models(broken) is None  # logged; the variant serves the control
    assert models.holds(champion.profile_ids[:1])
    models.clear()
    assert not models.holds(champion.profile_ids[:1])
    service, _logged = _serving(runtime, FakeAssigner(Treatment("exp1", "b", version)), models)
    body = service.recommend(HOME).public()
    assert body["model_version"] == version and body["experiment"]["variant"] == "b"


def test_a_version_that_cannot_be_loaded_serves_the_champion_degraded_and_uncached(
    shop: Shop,
) -> None:
    _client, runtime, _keys = shop
    treatment = Treatment("exp1", "b", model_version="20990101T000000000Z")
    cache: AnswerCache[Any] = AnswerCache()
    models = ModelVersions(runtime.recommenders)
    service, logged = _serving(runtime, FakeAssigner(treatment), models, answers=cache)
    body = service.recommend(HOME).public()
    assert body["degraded"] == ["variant_model_missing"]
    assert body["model_version"] == runtime.champion.version and body["items"]
    assert body["experiment"] is None  # the variant was not served: no exposure counts for it
    assert len(cache) == 0
    assert "experiment" not in exposure_rows(logged)[0]["properties"]
    # no loader at all is the same as a version it cannot find
    alone, _ = _serving(runtime, FakeAssigner(treatment))
    assert alone.recommend(HOME).public()["degraded"] == ["variant_model_missing"]


@pytest.mark.parametrize("refused", ["personalization", "analytics"])
def test_shoppers_whose_consent_does_not_allow_both_enter_no_experiment(
    shop: Shop, refused: str
) -> None:
    _client, runtime, _keys = shop
    assigner = FakeAssigner(B)
    policy = ConsentPolicy({**runtime.consent.modes, refused: "opt_in"})
    service, _logged = _serving(runtime, assigner, consent=policy)
    served = service.recommend(HOME)
    assert served.public()["experiment"] is None and served.answer.product_ids
    assert assigner.asked == []


def test_an_assigner_failure_serves_the_answer_without_experiment(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    _client, runtime, _keys = shop
    service, logged = _serving(runtime, FakeAssigner(B, fail=True))
    with caplog.at_level(logging.ERROR, logger="shopwise.serving"):
        body = service.recommend(HOME).public()
    assert body["experiment"] is None and body["degraded"] == [] and body["items"]
    assert body["personalized"] is True
    assert "experiment assignment failed" in caplog.text
    assert "experiment" not in exposure_rows(logged)[0]["properties"]


def test_two_variants_never_share_a_cached_answer(shop: Shop) -> None:
    _client, runtime, _keys = shop
    assigner = FakeAssigner(POPULAR)
    service, _logged = _serving(runtime, assigner)
    first = service.recommend(HOME)
    assigner.treatment = B
    second = service.recommend(HOME)
    assert second.public()["experiment"] == {"id": "exp1", "variant": "b"}
    assert second.public()["personalized"] is True and _ids(second) != _ids(first)
    assigner.treatment = None
    untreated = service.recommend(HOME)
    assert untreated.public()["experiment"] is None
    assigner.treatment = POPULAR
    assert service.recommend(HOME).answer is first.answer  # each variant keeps its own entry
    assigner.treatment = B
    assert service.recommend(HOME).answer is second.answer


def test_rules_and_content_versions_of_a_variant(shop: Shop) -> None:
    _client, runtime, _keys = shop
    pinned = runtime.rules.put(
        "rules:\n  - {name: hero, type: pin, product_id: g7, slot: 0}\n", None
    ).version
    runtime.rules.put("rules: []\n", None)  # the live rule set pins nothing
    old_content = runtime.content.put("blocks: []\nlayouts: {}\n", None).version
    runtime.content.put(WITH_SALE, None)
    treatment = Treatment("exp1", "b", rules_version=pinned, content_version=old_content)
    service, _logged = _serving(runtime, FakeAssigner(treatment))
    body = service.decide(HOME, {})
    assert body["rules_version"] == pinned and body["items"][0]["product_id"] == "g7"
    assert body["content_version"] == old_content and body["layout"] == []
    assert body["experiment"] == {"id": "exp1", "variant": "b"}
    missing = Treatment("exp1", "b", rules_version=old_content + 100)
    service, _logged = _serving(runtime, FakeAssigner(missing))
    body = service.decide(HOME, {})
    assert body["degraded"] == ["variant_rules_missing"] and body["experiment"] is None


WITH_SALE = """
blocks:
  - {name: welcome, kind: banner, content: {title: Welcome}}
  - {name: spring-sale, kind: banner, placements: [product], content: {title: Spring}}
layouts:
  home:
    - {name: recommended, weight: 3}
    - {name: new_arrivals, weight: 2}
    - {name: bestsellers, weight: 1.5}
"""


def test_banner_and_layout_treatments_in_decide(shop: Shop) -> None:
    _client, runtime, _keys = shop
    runtime.content.put(WITH_SALE, None)
    control = _serving(runtime, None)[0].decide(HOME, {})
    assert control["banner"]["name"] == "welcome"
    assert [s["name"] for s in control["layout"]] == ["recommended", "new_arrivals", "bestsellers"]
    treatment = Treatment("exp1", "b", banner="spring-sale", layout=("bestsellers", "recommended"))
    service, _logged = _serving(runtime, FakeAssigner(treatment))
    body = service.decide(HOME, {})
    # a block the placement would not show: the experiment shows it, and says why
    assert body["banner"]["name"] == "spring-sale"
    assert body["banner"]["reasons"] == ["experiment:exp1:b"]
    assert body["layout"] == [
        {"name": "bestsellers", "reason": "experiment:exp1:b"},
        {"name": "recommended", "reason": "experiment:exp1:b"},
        {"name": "new_arrivals", "reason": "default"},
    ]
    assert body["experiment"] == {"id": "exp1", "variant": "b"}
    unknown = Treatment("exp1", "b", banner="no-such-block")
    service, _logged = _serving(runtime, FakeAssigner(unknown))
    body = service.decide(HOME, {})
    assert body["degraded"] == ["variant_banner_missing"] and body["experiment"] is None
    assert body["banner"]["name"] == "welcome"


BANNER_ONLY = Treatment("exp2", "b", banner="spring-sale", in_recommendations=False)


def test_an_experiment_recommendations_do_not_show_stays_out_of_their_answers(shop: Shop) -> None:
    """Review 1: a banner, layout or content experiment tagged /v1/recommendations answers (and
    their exposures) though only /v1/decide shows it."""
    _client, runtime, _keys = shop
    runtime.content.put(WITH_SALE, None)
    control_arm = Treatment("exp2", "control", in_recommendations=False)
    for treatment in (BANNER_ONLY, control_arm):
        service, logged = _serving(runtime, FakeAssigner(treatment))
        served = service.recommend(HOME)
        assert served.public()["experiment"] is None and served.answer.product_ids
        assert "experiment" not in exposure_rows(logged)[0]["properties"]
        body = service.decide(HOME, {})
        assert body["experiment"] == {"id": "exp2", "variant": treatment.variant}
        assert exposure_rows(logged)[1]["properties"]["experiment"] == "exp2"
    assert BANNER_ONLY.in_recommendations is False and not BANNER_ONLY.shapes_products
    with pytest.raises(ValueError, match="product lists"):
        Treatment("exp2", "b", rules_version=3, in_recommendations=False)


def test_the_popular_variant_reports_no_model_version(shop: Shop) -> None:
    """Review 3: popularity and holdout answers reported the champion's model version."""
    _client, runtime, _keys = shop
    service, logged = _serving(runtime, FakeAssigner(POPULAR))
    assert service.recommend(HOME).public()["model_version"] is None
    assert exposure_rows(logged)[0]["properties"].get("model_version") is None


class FlakyRegistry:
    """A registry holding ``v1``, whose first load fails; counts how often it is asked."""

    def __init__(self, artifact: RecommenderArtifact) -> None:
        self.artifact = artifact
        self.listed = 0
        self.loads = 0

    def versions(self) -> list[str]:
        self.listed += 1
        return ["v1"]

    def load(self, version: str) -> RecommenderArtifact:
        self.loads += 1
        if self.loads == 1:
            raise OSError("artifact file truncated")
        return self.artifact


def test_missing_and_broken_model_versions_are_remembered_for_a_while(shop: Shop) -> None:
    """Review 12 and 24: a missing version listed the registry on every request, and a version
    that failed to load once stayed broken until an erasure."""
    _client, runtime, _keys = shop
    champion = runtime.champion.get()
    assert champion is not None
    clock = Clock(1000.0)
    registry = FlakyRegistry(champion)
    models = ModelVersions(registry, retry_seconds=30, clock=clock)  # type: ignore[arg-type]
    assert models("v1") is None and models("v1") is None  # broken: not read again at once
    assert models("v9") is None and models("v9") is None  # missing: not listed again at once
    assert (registry.loads, registry.listed) == (1, 2)
    clock.now += 31
    assert models("v1") is champion  # retried after the backoff
    assert models("v9") is None and registry.listed == 4


def test_a_missing_rule_version_is_remembered_for_a_while_and_a_put_ends_it(shop: Shop) -> None:
    """Review 12: a missing rule or content version queried the store on every request."""
    _client, runtime, _keys = shop
    clock = Clock(1000.0)
    store = VersionedStore(runtime.engine, "rules", RuleSet, miss_seconds=30, clock=clock)
    upcoming = runtime.rules.put("rules: []\n", None).version + 1
    assert store.get(upcoming) is None
    runtime.rules.put("rules: []\n", None)  # another process stores it
    assert store.get(upcoming) is None  # remembered as missing: no query
    clock.now += 31
    found = store.get(upcoming)
    assert found is not None and found.version == upcoming
    assert store.get(upcoming + 1) is None
    assert store.put("rules: []\n", None).version == upcoming + 1
    assert store.get(upcoming + 1) is not None  # its own put ends the miss at once


def test_a_missing_variant_version_is_logged_once_per_variant(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    """Review 12: every request logged a warning for a variant that could not be served."""
    _client, runtime, _keys = shop
    missing = Treatment("exp1", "b", rules_version=10_000)
    service, _logged = _serving(runtime, FakeAssigner(missing))
    with caplog.at_level(logging.WARNING, logger="shopwise.serving"):
        for _ in range(3):
            assert service.recommend(HOME).public()["degraded"] == ["variant_rules_missing"]
    assert caplog.text.count("experiment variant not served") == 1


def test_a_layout_names_only_sections_the_placement_has(shop: Shop) -> None:
    """Review 14: a variant's layout added sections the placement has none of."""
    _client, runtime, _keys = shop
    runtime.content.put(WITH_SALE, None)
    treatment = Treatment("exp1", "b", layout=("no-such-section", "bestsellers"))
    service, _logged = _serving(runtime, FakeAssigner(treatment))
    assert service.decide(HOME, {})["layout"] == [
        {"name": "bestsellers", "reason": "experiment:exp1:b"},
        {"name": "recommended", "reason": "default"},
        {"name": "new_arrivals", "reason": "default"},
    ]
