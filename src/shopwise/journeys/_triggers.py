"""Trigger definitions: which journeys fire, when, for whom, by which channel (YAML, versioned).

A :class:`TriggerSet` is a YAML document stored like the decision rules (kind ``triggers`` in
``rule_sets``: every ``PUT /v1/triggers`` is validated, stored as a new version and live at once);
version 0 is the shipped ``default_triggers.yaml``. It holds the frequency caps and quiet hours
shared by every trigger, and one :class:`TriggerConfig` per trigger: its kind (what starts it and
what converts it), delay, thresholds, audience, channel, priority, holdout share and whether it
is enabled. The engine (:mod:`shopwise.journeys._triggers_engine`) reads nothing else.
"""

from __future__ import annotations

from datetime import time
from importlib import resources
from typing import Annotated, Final, Literal, get_args

import sqlalchemy as sa
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shopwise.decide import VersionedStore
from shopwise.errors import InvalidInput
from shopwise.journeys._message import check_url

TriggerKind = Literal[
    "cart_abandonment",
    "browse_abandonment",
    "checkout_abandonment",
    "win_back",
    "replenishment",
    "cross_sell",
    "price_drop",
    "back_in_stock",
]
TRIGGER_KINDS: Final[tuple[str, ...]] = get_args(TriggerKind)
DEFAULTS_FILE: Final = "default_triggers.yaml"

Name = Annotated[str, Field(pattern=r"^[a-z0-9_.-]{1,64}$")]
"""A trigger's name: also the kind of its outbox messages and its ``utm_campaign``."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TriggerAudience(_Config):
    """Who a trigger may message; all given conditions must hold."""

    min_orders: int | None = Field(default=None, ge=0)
    """At least this many orders completed."""
    max_orders: int | None = Field(default=None, ge=0)
    """At most this many (0: shoppers who never ordered)."""


class Caps(_Config):
    """Frequency caps per person, across all triggers (fired and held-out messages count)."""

    per_day: int = Field(default=1, ge=0)
    """Messages in any 24 hours."""
    per_week: int = Field(default=3, ge=0)
    """Messages in any 7 days."""


class QuietHours(_Config):
    """Local hours (the shopper's time zone) in which no message is sent; a message due then
    waits until they end. ``start`` after ``end`` spans midnight; equal times: no quiet hours."""

    start: time = time(21, 0)
    end: time = time(8, 0)


class TriggerConfig(_Config):
    """One trigger (see the README's "Journeys: triggers" for each kind)."""

    name: Name
    kind: TriggerKind
    enabled: bool = True
    delay_minutes: float = Field(default=60.0, ge=0)
    """Minutes after its anchor (cart, view, checkout, order, catalog change, the interval's end
    for replenishment, the last order for win-back) the trigger is due."""
    expires_minutes: float = Field(default=1440.0, gt=0)
    """Minutes after it is due it may still fire (a worker down longer sends nothing stale)."""
    channel: Literal["email", "webhook"] = "email"
    destination: str | None = None
    """The webhook's URL (required for ``webhook``; an email goes to the shopper's address)."""
    priority: int = 0
    """When several are due for one person, the highest wins and the others are skipped."""
    holdout: float = Field(default=0.1, ge=0, lt=1)
    """Share of people (by a salted hash of the profile id) recorded as ``holdout``, unsent."""
    holdout_salt: str | None = None
    """Salt of the holdout hash (the trigger's name by default): a new salt draws a new group."""
    audience: TriggerAudience = Field(default_factory=TriggerAudience)
    subject: str = Field(default="A note from the shop", min_length=1, max_length=300)
    """Jinja template of the email subject (the same variables as the body)."""
    heading: str = ""
    intro: str = ""
    template: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")] = "message"
    """Base name of the templates (``<template>.html`` and ``<template>.txt``)."""
    recommendations: int = Field(default=4, ge=0, le=20)
    """Fresh recommendations from the champion in the message (0: none)."""
    complementary: int = Field(default=0, ge=0, le=20)
    """Complementary items of the message's first product (0: none)."""
    offer: str | None = None
    """A content block (``/v1/content``) added when it is eligible for the shopper: its
    threshold on a model score is the offer's confidence threshold."""
    score: str = "churn_90d"
    """``win_back``: the churn-propensity score read."""
    min_score: float | None = Field(default=None, ge=0, le=1)
    """``win_back``: fires when the score is at least this."""
    interval_days: float | None = Field(default=None, gt=0)
    """``replenishment``: the repurchase interval of products without a ``repurchase_days``
    attribute (none: only products with the attribute)."""
    min_drop: float = Field(default=0.05, ge=0, lt=1)
    """``price_drop``: the relative drop of the effective price that counts."""
    lookback_days: float = Field(default=14.0, gt=0)
    """``price_drop`` / ``back_in_stock``: products viewed or wish-listed this recently."""

    @model_validator(mode="after")
    def _consistent(self) -> TriggerConfig:
        if self.channel == "webhook":
            if self.destination is None:
                raise ValueError("a webhook trigger needs a destination URL")
            try:
                check_url(self.destination)
            except InvalidInput as exc:
                raise ValueError(exc.message) from None
        elif self.destination is not None:
            raise ValueError("an email trigger has no destination (the shopper's address)")
        if self.kind == "win_back" and self.min_score is None:
            raise ValueError("a win_back trigger needs min_score")
        try:
            SandboxedEnvironment().parse(self.subject)
        except TemplateSyntaxError as exc:
            raise ValueError(f"subject is not a valid template: {exc}") from None
        return self


class TriggerSet(_Config):
    """Every trigger, with the caps and quiet hours they share."""

    caps: Caps = Field(default_factory=Caps)
    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)
    """``null``: messages at any hour."""
    triggers: list[TriggerConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> TriggerSet:
        names = [t.name for t in self.triggers]
        if len(names) != len(set(names)):
            raise ValueError("trigger names must be unique")
        return self

    def enabled(self) -> list[TriggerConfig]:
        return [t for t in self.triggers if t.enabled]

    def named(self, name: str) -> TriggerConfig | None:
        return next((t for t in self.triggers if t.name == name), None)


def default_triggers_text() -> str:
    """The shipped trigger set (version 0)."""
    return resources.files("shopwise.journeys").joinpath(DEFAULTS_FILE).read_text()


def trigger_store(engine: sa.Engine) -> VersionedStore[TriggerSet]:
    """The versioned trigger sets of ``engine``'s store (see the module docstring)."""
    return VersionedStore(engine, "triggers", TriggerSet, defaults=default_triggers_text)
