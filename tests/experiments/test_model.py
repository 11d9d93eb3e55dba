"""Experiment definitions: what is accepted, what is refused (naming the field), the treatments."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from shopwise.errors import InvalidInput
from shopwise.experiments import (
    HOLDOUT,
    MEANS,
    METRICS,
    PROPORTIONS,
    Experiment,
    ExperimentSpec,
    Metric,
    Variant,
    parse_spec,
    validated,
)
from shopwise.serving import Treatment


def _spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "id": "home-model",
        "placements": ["home"],
        "variants": [{"name": "control"}, {"name": "popular", "model_version": "popular"}],
    }
    return {**spec, **changes}


def test_defaults_fill_name_and_salt_from_the_id() -> None:
    spec = validated(ExperimentSpec, _spec())
    assert (spec.name, spec.salt, spec.kind, spec.holdout) == ("home-model", "home-model", "ab", 0)
    assert spec.variants[0].name == "control" and spec.primary_metric in METRICS


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "Home Model"}, "id"),
        ({"variants": [{"name": "only"}]}, "variants"),
        ({"kind": "bandit", "variants": [{"name": "only"}]}, "variants"),
        ({"variants": [{"name": "a"}, {"name": "a"}]}, "variants"),
        ({"variants": [{"name": "a"}, {"name": HOLDOUT}]}, "variants"),
        ({"variants": [{"name": "a", "weight": 0}, {"name": "b"}]}, "variants.0.weight"),
        ({"variants": [{"name": "a", "weight": -1}, {"name": "b"}]}, "variants.0.weight"),
        ({"variants": [{"name": "a", "weight": 1e7}, {"name": "b"}]}, "variants.0.weight"),
        (
            {"variants": [{"name": "a", "rules_version": 2**64}, {"name": "b"}]},
            "variants.0.rules_version",
        ),
        ({"holdout": 0.5}, "holdout"),
        ({"holdout": -0.1}, "holdout"),
        ({"primary_metric": "happiness"}, "primary_metric"),
        ({"guardrails": ["ctr"]}, "guardrails"),
        ({"guardrails": ["revenue_per_visitor", "bounce"]}, "guardrails.1"),
        ({"kind": "multivariate"}, "kind"),
        ({"status": "running"}, "status"),
        ({"variants": [{"name": "a", "colour": "red"}, {"name": "b"}]}, "variants.0.colour"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validated(ExperimentSpec, _spec(**changes))
    assert raised.value.details[0]["field"] == field
    assert raised.value.message.startswith(f"{field}: ")


def test_two_arms_make_a_bandit() -> None:
    spec = validated(ExperimentSpec, _spec(kind="bandit"))
    assert spec.kind == "bandit" and len(spec.variants) == 2


def test_each_variant_makes_its_treatment() -> None:
    spec = validated(
        ExperimentSpec,
        _spec(
            variants=[
                {"name": "control"},
                {"name": "v2", "model_version": "20260301-abc"},
                {"name": "baseline", "model_version": "popular"},
                {"name": "look", "rules_version": 3, "content_version": 4, "banner": "sale"},
                {"name": "order", "layout": ["banner", "recommendations"]},
            ]
        ),
    )
    assert spec.treatment("control") == Treatment("home-model", "control")
    assert spec.treatment("v2") == Treatment("home-model", "v2", model_version="20260301-abc")
    assert spec.treatment("baseline") == Treatment("home-model", "baseline", popular=True)
    assert spec.treatment("look") == Treatment(
        "home-model", "look", rules_version=3, content_version=4, banner="sale"
    )
    assert spec.treatment("order").layout == ("banner", "recommendations")
    assert spec.treatment(HOLDOUT) == Treatment("home-model", HOLDOUT, popular=True)
    with pytest.raises(KeyError):
        spec.treatment("nope")


def test_the_metric_names_are_the_proportions_then_the_means() -> None:
    assert (*PROPORTIONS, *MEANS) == METRICS
    assert set(METRICS) == set(get_args(Metric))


def test_a_stored_experiment_round_trips() -> None:
    experiment = Experiment.model_validate({**_spec(), "status": "running", "started_at": 1})
    assert Experiment.model_validate(experiment.model_dump()) == experiment


def test_the_popularity_baseline_is_a_flag_and_the_old_spelling_still_reads() -> None:
    flagged = validated(Variant, {"name": "baseline", "popular": True})
    assert validated(Variant, {"name": "baseline", "model_version": "popular"}) == flagged
    assert flagged.model_version is None
    assert Variant.model_validate(flagged.model_dump()) == flagged
    with pytest.raises(InvalidInput, match="popular variant serves no model"):
        validated(Variant, {"name": "both", "popular": True, "model_version": "20260301-abc"})


def test_planned_shares_split_what_the_holdout_leaves_by_weight() -> None:
    spec = validated(
        ExperimentSpec,
        _spec(variants=[{"name": "a", "weight": 1}, {"name": "b", "weight": 3}], holdout=0.2),
    )
    assert spec.shares() == pytest.approx({"a": 0.2, "b": 0.6, HOLDOUT: 0.2})
    assert list(spec.shares()) == ["a", "b", HOLDOUT]
    plain = validated(ExperimentSpec, _spec())
    assert plain.shares() == {"control": 0.5, "popular": 0.5}


def test_yaml_and_json_definitions_parse_alike() -> None:
    text = """
id: home-model
placements: [home]
variants:
  - name: control
  - name: popular
    model_version: popular
    weight: 2
holdout: 0.05
primary_metric: ctr
guardrails: [revenue_per_visitor]
"""
    from_yaml = parse_spec(text)
    assert from_yaml.variants[1].weight == 2 and from_yaml.holdout == 0.05
    assert parse_spec(from_yaml.model_dump_json()) == from_yaml
    with pytest.raises(InvalidInput, match="does not parse"):
        parse_spec("id: [unclosed")
    with pytest.raises(InvalidInput, match="mapping"):
        parse_spec("- a list")


def test_only_an_experiment_that_changes_product_lists_takes_recommendations_in() -> None:
    def spec(**changes: Any) -> ExperimentSpec:
        return validated(ExperimentSpec, _spec(**changes))

    banners = [{"name": "spring", "banner": "spring"}, {"name": "summer", "banner": "summer"}]
    assert not spec(variants=banners).treatment("summer").in_recommendations
    assert spec().treatment("control").in_recommendations
    assert spec(variants=banners, holdout=0.1).treatment("spring").in_recommendations
    a_a = [{"name": "a"}, {"name": "b"}]
    assert spec(variants=a_a).treatment("b").in_recommendations  # an A/A test counts every answer
