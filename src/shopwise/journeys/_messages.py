"""Messages of the triggers: the personalized payload and its rendering (Jinja2, HTML and text).

:class:`Composer` makes a message's context: the person's first name (a PII trait, sealed at rest
like every ``traits`` object), the anchor's products (the cart, the viewed or bought items) with
titles, prices and URLs from the catalog, fresh recommendations from the champion and
complementary items of the first product (through an injected :class:`Personalizer`: serving is
another stage), and an optional offer: a content block of ``/v1/content`` added only when it is
eligible for the shopper, its threshold on a model score being the confidence it asks. Every link
is tracked: it carries the message's ``recommendation_id`` and ``utm_source``/``utm_medium``/
``utm_campaign`` so the ``email_clicked`` (or product view) it leads to and the orders after it
attribute back to the answer the message showed.

:class:`Templates` renders a context with ``<template>.html`` (autoescaped) and ``<template>.txt``
found first in ``<data_dir>/templates/`` (the shop's overrides), then in the package's defaults;
the subject is the trigger's own template string. Templates run sandboxed: a template is the
shop's, but it must not reach into Python.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from shopwise.catalog import Product
from shopwise.decide import ContentSet, ShopperContext
from shopwise.journeys._triggers import TriggerConfig
from shopwise.profiles import ProfileState

PLACEMENT: Final = "email"
"""The placement a message's recommendations and offer are decided for."""
UTM_SOURCE: Final = "shopwise"
TEMPLATES_FOLDER: Final = "templates"
"""The folder under the data dir whose files override the shipped templates."""
_ids = random.SystemRandom()


@dataclass(frozen=True)
class Recommended:
    """A served list: its ``recommendation_id`` (exposure logged by serving) and products."""

    recommendation_id: str
    product_ids: tuple[str, ...]


class Personalizer(Protocol):
    """Where a message's fresh products come from (serving, in the worker)."""

    def recommend(self, profile_id: str, cart: Sequence[str], n: int) -> Recommended | None:
        """Up to ``n`` recommendations for the person on the ``email`` placement."""
        ...

    def complementary(self, product_id: str, n: int) -> Recommended | None:
        """Up to ``n`` items that go with ``product_id``."""
        ...


@dataclass(frozen=True)
class Rendered:
    """A message as an email carries it."""

    subject: str
    text: str
    html: str


def new_recommendation_id(now_ms: int) -> str:
    """A recommendation id in serving's form (time-ordered hex), for a message without a
    served list of its own."""
    return f"{now_ms:012x}{_ids.getrandbits(80):020x}"


def tracked(url: str, recommendation_id: str, campaign: str, medium: str) -> str:
    """``url`` with the tracking parameters added (existing query parameters kept)."""
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in ("recommendation_id", "utm_source", "utm_medium", "utm_campaign")
    ]
    query += [
        ("recommendation_id", recommendation_id),
        ("utm_source", UTM_SOURCE),
        ("utm_medium", medium),
        ("utm_campaign", campaign),
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def offer_of(
    content: ContentSet,
    block_name: str,
    state: ProfileState,
    scores: Mapping[str, float],
    now_ms: int,
) -> dict[str, Any] | None:
    """The content of block ``block_name`` when it is eligible for the shopper on the email
    placement (audience, time window, score threshold), else ``None``."""
    block = next((b for b in content.blocks if b.name == block_name), None)
    if block is None:
        return None
    ctx = ShopperContext(
        placement=PLACEMENT,
        now=datetime.fromtimestamp(now_ms / 1000, UTC),
        profile=state,
        scores=dict(scores),
    )
    if block.eligible(ctx) is None:
        return None
    return {"name": block.name, **block.content}


class Composer:
    """Makes the context of a fired trigger's message (see the module docstring).

    Parameters
    ----------
    catalog
        The catalog snapshot (product id -> product).
    personalizer
        Fresh recommendations and complementary items.
    content
        The live content set (for offers).
    shop_url
        The shop's base URL: product links without a ``url`` attribute are
        ``<shop_url>/products/<id>``.
    """

    def __init__(
        self,
        catalog: Callable[[], Mapping[str, Product]],
        personalizer: Personalizer,
        content: Callable[[], ContentSet],
        shop_url: str,
    ) -> None:
        self._catalog = catalog
        self._personalizer = personalizer
        self._content = content
        self._shop_url = shop_url.rstrip("/")

    def context(
        self,
        trigger: TriggerConfig,
        profile_id: str,
        state: ProfileState,
        products: Sequence[str],
        first_name: str | None,
        scores: Mapping[str, float],
        now_ms: int,
    ) -> dict[str, Any]:
        """The message's context (JSON): what the templates and a webhook receive."""
        snapshot = self._catalog()
        known = [p for p in products if p in snapshot]
        recommended = None
        if trigger.recommendations:
            recommended = self._personalizer.recommend(profile_id, known, trigger.recommendations)
        rid = recommended.recommendation_id if recommended else new_recommendation_id(now_ms)
        shown = set(known)
        fresh = [p for p in (recommended.product_ids if recommended else ()) if p not in shown]
        complementary: list[str] = []
        if trigger.complementary and known:
            found = self._personalizer.complementary(known[0], trigger.complementary)
            complementary = [p for p in (found.product_ids if found else ()) if p not in shown]
        medium = trigger.channel

        def items(ids: Sequence[str]) -> list[dict[str, Any]]:
            return [
                self._item(snapshot[p], rid, trigger.name, medium) for p in ids if p in snapshot
            ]

        offer = None
        if trigger.offer is not None:
            offer = offer_of(self._content(), trigger.offer, state, scores, now_ms)
        return {
            "trigger": trigger.name,
            "kind": trigger.kind,
            "profile_id": profile_id,
            "recommendation_id": rid,
            "created_at": now_ms,
            "person": {"traits": {"first_name": first_name} if first_name else {}},
            "items": items(known),
            "recommendations": items(fresh),
            "complementary": items(complementary),
            "offer": offer,
            "links": {"shop": tracked(self._shop_url + "/", rid, trigger.name, medium)},
        }

    def _item(self, product: Product, rid: str, campaign: str, medium: str) -> dict[str, Any]:
        url = product.attributes.get("url")
        if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            url = f"{self._shop_url}/products/{quote(product.id, safe='')}"
        return {
            "product_id": product.id,
            "title": product.title,
            "price": f"{product.effective_price:.2f}",
            "currency": product.currency,
            "image_url": product.image_url,
            "url": tracked(url, rid, campaign, medium),
        }


class Templates:
    """The message templates: the shop's overrides in ``override_dir``, then the package's."""

    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            loaders.append(jinja2.FileSystemLoader(override_dir))
        loaders.append(jinja2.PackageLoader("shopwise.journeys", "templates"))
        self._files = SandboxedEnvironment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._strings = SandboxedEnvironment(autoescape=False)

    @classmethod
    def of_data_dir(cls, data_dir: Path) -> Templates:
        """The shipped templates overridden by the files in ``<data_dir>/templates``."""
        return cls(data_dir / TEMPLATES_FOLDER)

    def render(self, trigger: TriggerConfig, context: Mapping[str, Any]) -> Rendered:
        """The subject, plain text and HTML of a message context.

        Raises
        ------
        jinja2.TemplateError
            A template that does not parse or fails to render.
        """
        values = {
            **context,
            "first_name": (context.get("person") or {}).get("traits", {}).get("first_name"),
            "heading": trigger.heading,
            "intro": trigger.intro,
        }
        subject = " ".join(self._strings.from_string(trigger.subject).render(values).split())
        values["subject"] = subject
        html = self._files.get_template(f"{trigger.template}.html").render(values)
        text = self._files.get_template(f"{trigger.template}.txt").render(values)
        return Rendered(subject, text, html)
