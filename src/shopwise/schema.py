"""Field names and the e-commerce event vocabulary shared by every stage.

Collection validates against these models, the store names its columns with :class:`Columns`, and
features, models and decisions read frames whose columns carry the same names. Event types are
snake_case; shop-specific events use ``custom:<name>``. Each type declares the properties it
requires with a pydantic model that allows extra properties, so shops may send more than we read
(collection stores the extras only where the shop allows them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from shopwise.errors import InvalidInput


class Columns:
    """Column and field names used in tables and frames; never spell these as bare strings."""

    EVENT_ID: Final = "id"
    MESSAGE: Final = "message_id"
    TYPE: Final = "type"
    PROFILE: Final = "profile_id"
    USER: Final = "user_id"
    ANONYMOUS: Final = "anonymous_id"
    SESSION: Final = "session_id"
    TIME: Final = "timestamp"
    RECEIVED: Final = "received_at"
    CONTEXT: Final = "context"
    PROPERTIES: Final = "properties"
    CONSENT: Final = "consent"
    ITEM: Final = "product_id"
    ORDER: Final = "order_id"
    REVENUE: Final = "revenue"
    PRICE: Final = "price"
    QUANTITY: Final = "quantity"
    CATEGORY: Final = "category"
    BRAND: Final = "brand"
    CURRENCY: Final = "currency"
    DISCOUNT: Final = "discount"
    QUERY: Final = "query"
    WEIGHT: Final = "weight"
    SCORE: Final = "score"
    RANK: Final = "rank"


class EventType(StrEnum):
    """The built-in event vocabulary (e-commerce spec, snake_case)."""

    PAGE_VIEWED = "page_viewed"
    PAGE_PING = "page_ping"
    PRODUCT_LIST_VIEWED = "product_list_viewed"
    PRODUCT_VIEWED = "product_viewed"
    PRODUCTS_SEARCHED = "products_searched"
    PRODUCT_LIST_FILTERED = "product_list_filtered"
    PRODUCT_ADDED = "product_added"
    PRODUCT_REMOVED = "product_removed"
    CART_VIEWED = "cart_viewed"
    WISHLIST_ADDED = "wishlist_added"
    CHECKOUT_STARTED = "checkout_started"
    ORDER_COMPLETED = "order_completed"
    ORDER_REFUNDED = "order_refunded"
    PRODUCT_REVIEWED = "product_reviewed"
    PRODUCT_SHARED = "product_shared"
    PROMOTION_VIEWED = "promotion_viewed"
    PROMOTION_CLICKED = "promotion_clicked"
    RECOMMENDATION_VIEWED = "recommendation_viewed"
    RECOMMENDATION_CLICKED = "recommendation_clicked"
    EMAIL_SENT = "email_sent"
    EMAIL_OPENED = "email_opened"
    EMAIL_CLICKED = "email_clicked"
    IDENTIFY = "identify"
    ALIAS = "alias"
    CONSENT_UPDATED = "consent_updated"


CUSTOM_PREFIX: Final = "custom:"
CUSTOM_NAME = re.compile(r"^custom:[a-z0-9][a-z0-9_.\-]{0,62}$")


class Purpose(StrEnum):
    """Purposes an event's data may serve; consent is given or refused per purpose.

    ``necessary`` is what honouring the shopper's own request needs (answering it, keeping the
    events that prove what was asked); it needs no consent and cannot be refused.
    """

    NECESSARY = "necessary"
    ANALYTICS = "analytics"
    PERSONALIZATION = "personalization"
    MARKETING = "marketing"
    ADVERTISING = "advertising"


DO_NOT_SELL: Final = "do_not_sell"
"""Key of the CCPA opt-out of sale among a profile's consent choices (``true`` opts out)."""


def _as_text(value: Any) -> Any:
    """Shops send ids as numbers as often as strings; both mean the same id."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""The characters of Unicode category Cc (C0, DEL and C1 controls), NUL among them."""


def _clean_id(value: str) -> str:
    """An id without its surrounding whitespace; refused when nothing else is left, or when it
    holds a control character (a NUL cannot even be stored on PostgreSQL).

    Stripping is done here, after the length check, because pydantic checks ``min_length``
    before ``strip_whitespace``: an id of spaces used to pass as ``""`` and merge strangers.
    """
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError("blank_id", "must not be empty or only whitespace")
    if CONTROL_CHARACTERS.search(stripped):
        raise PydanticCustomError(
            "control_character", "must not contain control characters (NUL, tab, newline ...)"
        )
    return stripped


def _no_nul(value: str) -> str:
    """Free text may hold tabs and newlines (a title over two lines is normal), never a NUL:
    PostgreSQL cannot store one, so accepting it would make the backends disagree."""
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain a NUL character")
    return value


Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128),
    BeforeValidator(_as_text),
    AfterValidator(_clean_id),
]
"""An identifier: stripped, never blank, no control characters, at most 128 characters."""
Text = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_no_nul)]
"""Free text: at most 2048 characters, any but NUL."""
Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Open(BaseModel):
    """Properties models: what we read is typed; anything else the shop sends is accepted, and
    stored only where the shop allows it (``shopwise.collect.Minimizer``)."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Consent(_Strict):
    """Consent as the client knows it: per purpose, plus the CCPA opt-out of sale, with the
    version of the privacy policy the shopper saw and where the choice was made (a banner, the
    account page, the API)."""

    purposes: dict[Purpose, bool] = Field(default_factory=dict)
    do_not_sell: bool | None = None
    policy_version: Annotated[str, StringConstraints(max_length=64)] | None = None
    source: Annotated[str, StringConstraints(max_length=64)] | None = None


class Page(_Strict):
    url: Text | None = None
    path: Text | None = None
    referrer: Text | None = None
    title: Text | None = None


class Campaign(_Strict):
    """UTM fields."""

    source: Text | None = None
    medium: Text | None = None
    name: Text | None = None
    term: Text | None = None
    content: Text | None = None


class Context(_Strict):
    page: Page | None = None
    user_agent: Text | None = None
    locale: Annotated[str, StringConstraints(max_length=35)] | None = None
    campaign: Campaign | None = None
    ip: Annotated[str, StringConstraints(max_length=45)] | None = None
    consent: Consent | None = None
    library: dict[str, str] | None = None


class Envelope(_Strict):
    """One event as clients send it. Unknown top-level fields are rejected."""

    message_id: Id
    type: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    anonymous_id: Id | None = None
    user_id: Id | None = None
    user_hash: Annotated[str, StringConstraints(max_length=128)] | None = None
    """``hex(HMAC-SHA256(identity secret, user_id))`` from the shop's backend: proves the user
    id to a write key's collector (never stored)."""
    timestamp: AwareDatetime
    context: Context = Field(default_factory=Context)
    properties: dict[str, Any] = Field(default_factory=dict)


class ProductLine(_Open):
    """A product inside ``products[]``."""

    product_id: Id
    quantity: Annotated[int, Field(ge=1)] = 1
    price: Money | None = None
    category: Text | None = None
    brand: Text | None = None


class ProductProps(_Open):
    product_id: Id
    price: Money | None = None
    category: Text | None = None
    brand: Text | None = None


class CartLineProps(ProductProps):
    quantity: Annotated[int, Field(ge=1)] = 1
    cart_id: Id | None = None


class ProductListProps(_Open):
    products: list[ProductLine]
    list_id: Id | None = None
    category: Text | None = None


class SearchProps(_Open):
    query: Annotated[str, StringConstraints(max_length=512)]


class FilterProps(_Open):
    filters: list[dict[str, Any]]
    list_id: Id | None = None
    category: Text | None = None


class CartProps(_Open):
    products: list[ProductLine]
    cart_id: Id | None = None


class OrderProps(_Open):
    order_id: Id
    products: Annotated[list[ProductLine], Field(min_length=1)]
    revenue: Money
    currency: Currency
    discount: Money = 0.0
    coupon: Text | None = None
    shipping: Money | None = None
    tax: Money | None = None


class RefundProps(_Open):
    order_id: Id
    revenue: Money | None = None
    currency: Currency | None = None
    products: list[ProductLine] | None = None


class ReviewProps(_Open):
    product_id: Id
    rating: Annotated[float, Field(ge=0, le=5)]


class PromotionProps(_Open):
    promotion_id: Id
    name: Text | None = None
    creative: Text | None = None
    position: Text | None = None


class RecommendationViewedProps(_Open):
    recommendation_id: Id
    product_ids: list[Id] = Field(default_factory=list)
    placement: Text | None = None


class RecommendationClickedProps(_Open):
    recommendation_id: Id
    product_id: Id
    position: Annotated[int, Field(ge=0)] | None = None


class EmailProps(_Open):
    email_id: Id
    campaign: Text | None = None


class EmailClickProps(EmailProps):
    url: Text


class IdentifyProps(_Open):
    traits: dict[str, Any] = Field(default_factory=dict)


class AliasProps(_Open):
    previous_id: Id


class PagePingProps(_Open):
    """Activity on the page since it was viewed (Snowplow's page pings): the seconds the shopper
    was active on it and how far down it they scrolled, at most."""

    active_seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    scroll_depth: Annotated[float, Field(ge=0, le=100)] | None = None
    """The deepest point seen, in percent of the page's height."""


class NoProps(_Open):
    """Types that require no property."""


PROPERTIES: Final[dict[str, type[_Open]]] = {
    EventType.PAGE_VIEWED: NoProps,
    EventType.PAGE_PING: PagePingProps,
    EventType.PRODUCT_LIST_VIEWED: ProductListProps,
    EventType.PRODUCT_VIEWED: ProductProps,
    EventType.PRODUCTS_SEARCHED: SearchProps,
    EventType.PRODUCT_LIST_FILTERED: FilterProps,
    EventType.PRODUCT_ADDED: CartLineProps,
    EventType.PRODUCT_REMOVED: CartLineProps,
    EventType.CART_VIEWED: CartProps,
    EventType.WISHLIST_ADDED: ProductProps,
    EventType.CHECKOUT_STARTED: CartProps,
    EventType.ORDER_COMPLETED: OrderProps,
    EventType.ORDER_REFUNDED: RefundProps,
    EventType.PRODUCT_REVIEWED: ReviewProps,
    EventType.PRODUCT_SHARED: ProductProps,
    EventType.PROMOTION_VIEWED: PromotionProps,
    EventType.PROMOTION_CLICKED: PromotionProps,
    EventType.RECOMMENDATION_VIEWED: RecommendationViewedProps,
    EventType.RECOMMENDATION_CLICKED: RecommendationClickedProps,
    EventType.EMAIL_SENT: EmailProps,
    EventType.EMAIL_OPENED: EmailProps,
    EventType.EMAIL_CLICKED: EmailClickProps,
    EventType.IDENTIFY: IdentifyProps,
    EventType.ALIAS: AliasProps,
    EventType.CONSENT_UPDATED: NoProps,
}
"""Properties model per built-in type; ``custom:<name>`` events use :class:`NoProps`."""


def properties_model(event_type: str) -> type[_Open] | None:
    """The properties model of ``event_type``; ``None`` when the type is not in the vocabulary."""
    model = PROPERTIES.get(event_type)
    if model is None and CUSTOM_NAME.match(event_type):
        return NoProps
    return model


def required_properties(event_type: str) -> list[str]:
    """Names of the properties ``event_type`` requires (for docs and error messages)."""
    model = properties_model(event_type)
    if model is None:
        return []
    return [name for name, field in model.model_fields.items() if field.is_required()]


ITEM_EVENT_WEIGHTS: Final[dict[str, float]] = {
    EventType.PRODUCT_VIEWED: 1.0,
    EventType.RECOMMENDATION_CLICKED: 1.0,
    EventType.WISHLIST_ADDED: 2.0,
    EventType.PRODUCT_SHARED: 2.0,
    EventType.PRODUCT_REVIEWED: 3.0,
    EventType.PRODUCT_ADDED: 3.0,
    EventType.ORDER_COMPLETED: 5.0,
}
"""Implicit-feedback weight of each event type that touches a product (view < cart < purchase)."""

SYSTEM_EVENT_TYPES: Final[frozenset[str]] = frozenset({EventType.RECOMMENDATION_VIEWED})
"""Events shopwise records about itself (what it showed), not the shopper's behaviour. They stay
in the event log (attribution, experiments; they carry the shopper's ids, so erasure finds them,
by a scan of the exposures: the identity indexes leave them out, see ``shopwise.store``) but are
not folded into profiles: a served answer must not cost a profile write."""


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND: Final = timedelta(milliseconds=1)


def utc_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, the time unit of the event store (exact, floored)."""
    return (moment - _EPOCH) // _MILLISECOND


def served_at(recommendation_id: str) -> int | None:
    """When an answer was served (epoch ms), read from its ``recommendation_id``: serving makes
    each id 32 hex digits with the serving time first (its first twelve); ``None`` for an id
    shopwise did not make."""
    try:
        return int(recommendation_id[:12], 16) if len(recommendation_id) == 32 else None
    except ValueError:
        return None


# -- traits -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraitSpec:
    """The JSON type of a declared profile trait and whether it is personal data (PII)."""

    type: type
    pii: bool


TRAITS: Final[dict[str, TraitSpec]] = {
    "email": TraitSpec(str, pii=True),
    "phone": TraitSpec(str, pii=True),
    "name": TraitSpec(str, pii=True),
    "first_name": TraitSpec(str, pii=True),
    "last_name": TraitSpec(str, pii=True),
    "address": TraitSpec(dict, pii=True),
    "birthday": TraitSpec(date, pii=True),
    "gender": TraitSpec(str, pii=False),
    "city": TraitSpec(str, pii=False),
    "country": TraitSpec(str, pii=False),
    "locale": TraitSpec(str, pii=False),
    "plan": TraitSpec(str, pii=False),
    "loyalty_tier": TraitSpec(str, pii=False),
    "created_at": TraitSpec(str, pii=False),
    "newsletter": TraitSpec(bool, pii=False),
}
"""Declared profile traits. PII traits are flagged so the privacy stage can encrypt them at rest
and export or erase them; traits not declared here are accepted as ``custom`` scalars."""

_SCALARS = (str, int, float, bool, type(None))


def check_trait(name: str, value: Any) -> Any:
    """``value`` checked against the declared type of trait ``name`` (JSON form)."""
    spec = TRAITS.get(name)
    if spec is None:
        if not isinstance(value, _SCALARS):
            raise InvalidInput(
                f"traits.{name}: custom traits must be scalars", code="invalid_trait"
            )
        return value
    if value is None:
        return None
    if spec.type is date:
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise InvalidInput(
                f"traits.{name}: expected a date (YYYY-MM-DD)", code="invalid_trait"
            ) from None
    if spec.type is str and isinstance(value, str) and len(value) <= 512:
        return value
    if spec.type in (bool, dict) and isinstance(value, spec.type):
        return value
    raise InvalidInput(f"traits.{name}: expected {spec.type.__name__}", code="invalid_trait")


def is_pii(name: str) -> bool:
    """Whether trait ``name`` is declared personal data."""
    spec = TRAITS.get(name)
    return spec is not None and spec.pii
