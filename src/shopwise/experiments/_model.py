"""Experiment definitions: what is tested, on whom, against which metrics.

An :class:`ExperimentSpec` is what an operator writes (the YAML or JSON of ``shopwise experiments
create``, the body of ``POST /v1/experiments``); an :class:`Experiment` is a stored one, with its
status and the times it started and stopped. Each :class:`Variant` turns into the serving
stage's :class:`~shopwise.serving.Treatment`; the first variant is the control.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shopwise.errors import InvalidInput
from shopwise.serving import Treatment

Metric = Literal[
    "ctr",
    "click_rate",
    "add_to_cart_rate",
    "conversion_rate",
    "revenue_per_visitor",
    "average_order_value",
]
PROPORTIONS: Final = ("click_rate", "add_to_cart_rate", "conversion_rate")
"""Metrics that are a share of the units (each unit 0 or 1)."""
MEANS: Final = ("ctr", "revenue_per_visitor", "average_order_value")
"""Metrics that are a mean of a per-unit value."""
METRICS: Final[tuple[str, ...]] = (*PROPORTIONS, *MEANS)
"""The metric names an experiment may name (the values of :data:`Metric`), in report order."""
Kind = Literal["ab", "bandit"]
Status = Literal["draft", "running", "stopped"]

HOLDOUT: Final = "holdout"
"""The variant name of the holdout share (reserved: no variant may take it)."""
POPULAR_VERSION: Final = "popular"
"""Accepted as a variant's ``model_version`` for ``popular: true`` (definitions written before
the field existed)."""

MAX_WEIGHT: Final = 1e6
MAX_VERSION: Final = 2**53
"""Bounds that keep sums finite and numbers exact in JSON."""

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
"""An experiment id: lower-case letters, digits, ``-`` and ``_``, as in a URL path."""
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)]
"""A variant, placement or segment name."""
Weight = Annotated[float, Field(gt=0, le=MAX_WEIGHT, allow_inf_nan=False)]
"""A variant's relative share of the traffic outside the holdout (weights need not sum to one)."""
Version = Annotated[int, Field(ge=1, le=MAX_VERSION)]
"""A stored rule-set or content-set version."""


class Variant(BaseModel):
    """One arm of an experiment: its traffic weight and what it changes about an answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    weight: Weight = 1.0
    model_version: str | None = Field(None, min_length=1, max_length=64)
    """A recommender registry version; None: the champion."""
    popular: bool = False
    """No model: the rules' fallback list (the popularity baseline)."""
    rules_version: Version | None = None
    """A stored rule-set version; None: the live one."""
    content_version: Version | None = None
    """A stored content-set version; None: the live one."""
    banner: str | None = Field(None, min_length=1, max_length=100)
    """The content block shown as the banner."""
    layout: tuple[Name, ...] | None = None
    """Section names in this order."""

    @model_validator(mode="before")
    @classmethod
    def _popular_version(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("model_version") == POPULAR_VERSION:
            data = {**data, "model_version": None, "popular": True}
        return data

    @model_validator(mode="after")
    def _one_model(self) -> Variant:
        if self.popular and self.model_version is not None:
            raise ValueError("a popular variant serves no model: drop model_version")
        return self

    def treatment(self, experiment: str, in_recommendations: bool = True) -> Treatment:
        """What serving applies for this variant of ``experiment`` (``in_recommendations``:
        whether the experiment changes product lists, so plain recommendation answers are in
        it too, not only decisions)."""
        return Treatment(
            experiment=experiment,
            variant=self.name,
            model_version=self.model_version,
            popular=self.popular,
            rules_version=self.rules_version,
            content_version=self.content_version,
            banner=self.banner,
            layout=self.layout,
            in_recommendations=in_recommendations,
        )


class ExperimentSpec(BaseModel):
    """An experiment as an operator defines it (see module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    name: str = Field("", max_length=200)
    """A title for people (default: the id)."""
    kind: Kind = "ab"
    """``ab``: fixed weights, sticky per shopper; ``bandit``: an arm drawn per request."""
    placements: tuple[Name, ...] = ()
    """Placements it runs on; empty: all."""
    audience: tuple[Name, ...] = ()
    """Segment or audience names, any of which admits a shopper; empty: everyone."""
    variants: tuple[Variant, ...]
    """The arms; the first is the control."""
    holdout: float = Field(0.0, ge=0.0, lt=0.5)
    """Share of the shoppers kept out of every variant (served the popularity baseline)."""
    salt: str = Field("", max_length=64)
    """Mixed into the assignment hash (default: the id), so experiments split independently."""
    primary_metric: Metric = "ctr"
    guardrails: tuple[Metric, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("id"), str):
            data = dict(data)
            data["name"] = data.get("name") or data["id"]
            data["salt"] = data.get("salt") or data["id"]
        return data

    @field_validator("variants")
    @classmethod
    def _arms(cls, variants: tuple[Variant, ...], info: ValidationInfo) -> tuple[Variant, ...]:
        names = [variant.name for variant in variants]
        if len(names) < 2:
            kind = info.data.get("kind", "ab")
            what = "arms" if kind == "bandit" else "variants"
            raise ValueError(f"an experiment of kind {kind!r} needs at least two {what}")
        if len(set(names)) != len(names):
            raise ValueError("variant names must be unique")
        if HOLDOUT in names:
            raise ValueError(f"{HOLDOUT!r} is reserved for the holdout share")
        return variants

    @field_validator("guardrails")
    @classmethod
    def _guardrails(cls, guardrails: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if info.data.get("primary_metric") in guardrails:
            raise ValueError("the primary metric is not also a guardrail")
        if len(set(guardrails)) != len(guardrails):
            raise ValueError("guardrails must be unique")
        return guardrails

    def shares(self) -> dict[str, float]:
        """The planned share of the traffic per variant, in order, then the holdout's (when
        there is one): the weights split what the holdout leaves."""
        total = sum(variant.weight for variant in self.variants)
        planned = {v.name: (1.0 - self.holdout) * v.weight / total for v in self.variants}
        if self.holdout > 0.0:
            planned[HOLDOUT] = self.holdout
        return planned

    def variant(self, name: str) -> Variant | None:
        """The variant called ``name`` (None when there is none)."""
        return next((v for v in self.variants if v.name == name), None)

    def treatment(self, variant: str) -> Treatment:
        """The treatment of ``variant``; the holdout share gets the popularity baseline."""
        if variant == HOLDOUT:
            return Treatment(experiment=self.id, variant=HOLDOUT, popular=True)
        found = self.variant(variant)
        if found is None:
            raise KeyError(variant)
        return found.treatment(self.id, self.shapes_products)

    @property
    def shapes_products(self) -> bool:
        """Whether recommendation answers are in the experiment: when it changes product lists
        (a variant's, or its holdout's), and when no variant changes anything (an A/A test is
        about every answer of its placements); an experiment that changes only what decisions
        add (banner, layout, content) is in decisions only."""
        treatments = [v.treatment(self.id) for v in self.variants]
        if self.holdout > 0 or any(t.shapes_products for t in treatments):
            return True
        return not any(t.changes_decisions for t in treatments)


class Experiment(ExperimentSpec):
    """A stored experiment: its definition, status and when it ran (epoch ms)."""

    status: Status = "draft"
    started_at: int | None = None
    stopped_at: int | None = None
    weights_changed_at: int | None = None
    """When the weights last changed (None: never): units assigned before keep their variant,
    so the split after it no longer follows the weights (the sample ratio check skips it)."""


class ExperimentUpdate(BaseModel):
    """What may change while an experiment is a draft or running (``PATCH``); absent: kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: dict[str, Weight] | None = None
    """New weights by variant name (variants not named keep theirs)."""
    audience: tuple[Name, ...] | None = None
    primary_metric: Metric | None = None
    guardrails: tuple[Metric, ...] | None = None


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any) -> M:
    """``data`` as ``model``; :class:`InvalidInput` naming the first bad field otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "experiment", "message": e["msg"]}
            for e in exc.errors()
        ]
        first = details[0]
        raise InvalidInput(
            f"{first['field']}: {first['message']}", code="invalid_experiment", details=details
        ) from None


def parse_spec(text: str) -> ExperimentSpec:
    """An experiment definition from YAML or JSON text (JSON is YAML)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the definition does not parse: {exc}", code="invalid_yaml") from None
    if not isinstance(data, dict):
        raise InvalidInput("the definition must be a mapping of fields", code="invalid_experiment")
    return validated(ExperimentSpec, data)
