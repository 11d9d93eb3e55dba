"""The vocabulary half of the Segment translation: event names, property renames, traits, consent.

Segment's e-commerce spec v2 names events in Title Case ("Product Added") and its properties in
snake_case close to ours; what differs is renamed here, per our event type, before the collector
validates the properties against :mod:`shopwise.schema`. Track events outside the spec become
``custom:<snake_name>`` events. Identify traits arrive in Segment's camelCase (``firstName``) and
are turned into our snake_case trait names; traits that our trait types refuse are kept on the event
with the reason instead of being dropped. Consent categories (``categoryPreferences``) are mapped
onto our purposes by a configurable name table.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, Literal

from shopwise.errors import InvalidInput
from shopwise.schema import CUSTOM_PREFIX, DO_NOT_SELL, Columns, EventType, Purpose, check_trait

ConsentTarget = Purpose | Literal["do_not_sell"]

EVENT_NAMES: Final[dict[str, EventType | str]] = {
    "products searched": EventType.PRODUCTS_SEARCHED,
    "product list viewed": EventType.PRODUCT_LIST_VIEWED,
    "product list filtered": EventType.PRODUCT_LIST_FILTERED,
    "product clicked": "custom:product_clicked",
    "product viewed": EventType.PRODUCT_VIEWED,
    "product added": EventType.PRODUCT_ADDED,
    "product removed": EventType.PRODUCT_REMOVED,
    "cart viewed": EventType.CART_VIEWED,
    "checkout started": EventType.CHECKOUT_STARTED,
    "order completed": EventType.ORDER_COMPLETED,
    "order refunded": EventType.ORDER_REFUNDED,
    "product added to wishlist": EventType.WISHLIST_ADDED,
    "wishlist product added to cart": EventType.PRODUCT_ADDED,
    "product reviewed": EventType.PRODUCT_REVIEWED,
    "product shared": EventType.PRODUCT_SHARED,
    "promotion viewed": EventType.PROMOTION_VIEWED,
    "promotion clicked": EventType.PROMOTION_CLICKED,
    "email sent": EventType.EMAIL_SENT,
    "email opened": EventType.EMAIL_OPENED,
    "email link clicked": EventType.EMAIL_CLICKED,
    "recommendation viewed": EventType.RECOMMENDATION_VIEWED,
    "recommendation clicked": EventType.RECOMMENDATION_CLICKED,
}
"""Segment track event names (lower case) and the type each becomes; others become custom."""

_TRACKABLE: Final = frozenset(EventType) - {EventType.IDENTIFY, EventType.ALIAS}

DEFAULT_CONSENT_CATEGORIES: Final[dict[str, ConsentTarget]] = {
    "analytics": Purpose.ANALYTICS,
    "performance": Purpose.ANALYTICS,
    "statistics": Purpose.ANALYTICS,
    "measurement": Purpose.ANALYTICS,
    "c0002": Purpose.ANALYTICS,  # OneTrust "Performance Cookies"
    "personalization": Purpose.PERSONALIZATION,
    "personalisation": Purpose.PERSONALIZATION,
    "functional": Purpose.PERSONALIZATION,
    "preferences": Purpose.PERSONALIZATION,
    "c0003": Purpose.PERSONALIZATION,  # OneTrust "Functional Cookies"
    "marketing": Purpose.MARKETING,
    "email": Purpose.MARKETING,
    "advertising": Purpose.ADVERTISING,
    "targeting": Purpose.ADVERTISING,
    "ads": Purpose.ADVERTISING,
    "c0004": Purpose.ADVERTISING,  # OneTrust "Targeting Cookies"
    "data_sharing": DO_NOT_SELL,
    "datasharing": DO_NOT_SELL,
    "sale_of_data": DO_NOT_SELL,
}
"""Consent category names (normalised by :func:`category_key`) and the purpose each governs."""

_NOT_NAME = re.compile(r"[^a-z0-9_.\-]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PRODUCT_ID_SOURCES: Final = (Columns.ITEM, "sku", "id")
_ORDER_TYPES: Final = frozenset(
    {EventType.ORDER_COMPLETED, EventType.ORDER_REFUNDED, EventType.CHECKOUT_STARTED}
)


def snake_name(name: str) -> str:
    """``"Newsletter Signed Up"`` -> ``"newsletter_signed_up"`` (the ``custom:`` name rules)."""
    spaced = _CAMEL.sub("_", name.strip())
    return _NOT_NAME.sub("_", spaced.lower()).strip("_.-")[:63]


@functools.lru_cache(maxsize=4096)
def event_type_for(event: str) -> str | None:
    """Our type for a Segment track event name; ``None`` when no valid name can be made.

    Cached: a shop sends few distinct names, and this runs for every track call.
    """
    known = EVENT_NAMES.get(" ".join(event.lower().split()))
    if known is not None:
        return str(known)
    name = snake_name(event)
    if name in _TRACKABLE:
        return name
    return f"{CUSTOM_PREFIX}{name}" if name else None


def category_key(category: str) -> str:
    """Normalised consent category name: ``"Data Sharing"`` -> ``"data_sharing"``."""
    return re.sub(r"[^a-z0-9]+", "_", category.lower()).strip("_")


def _product_id(line: dict[str, Any]) -> dict[str, Any]:
    """Spec v2 ``product_id``, else ``sku``, else v1's ``id``, as our ``product_id``."""
    if line.get(Columns.ITEM) is not None:
        return line
    for source in _PRODUCT_ID_SOURCES[1:]:
        if line.get(source) is not None:
            return {**line, Columns.ITEM: line[source]}
    return line


def _products(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [_product_id(line) if isinstance(line, dict) else line for line in value]


def _line_total(products: Any) -> float | None:
    """Sum of ``price * quantity`` over ``products``, or ``None`` when any price is missing."""
    if not isinstance(products, list) or not products:
        return None
    total = 0.0
    for line in products:
        if not isinstance(line, dict) or not isinstance(line.get(Columns.PRICE), int | float):
            return None
        quantity = line.get(Columns.QUANTITY, 1)
        total += float(line[Columns.PRICE]) * (quantity if isinstance(quantity, int | float) else 1)
    return round(total, 2)


def _order(props: dict[str, Any], event_type: str, default_currency: str | None) -> None:
    """Revenue from ``revenue``, else ``total``, else ``value``, else the product lines."""
    if props.get(Columns.REVENUE) is None:
        for source in ("total", "value"):
            if props.get(source) is not None:
                props[Columns.REVENUE] = props[source]
                break
        else:
            if event_type == EventType.ORDER_COMPLETED:
                computed = _line_total(props.get("products"))
                if computed is not None:
                    props[Columns.REVENUE] = computed
    currency = props.get(Columns.CURRENCY)
    if isinstance(currency, str):
        props[Columns.CURRENCY] = currency.strip().upper()
    elif currency is None and default_currency and props.get(Columns.REVENUE) is not None:
        props[Columns.CURRENCY] = default_currency


def _email(props: dict[str, Any], event_type: str) -> None:
    if props.get("campaign") is None:
        for source in ("campaign_name", "campaign_id"):
            if props.get(source) is not None:
                props["campaign"] = props[source]
                break
    if event_type == EventType.EMAIL_CLICKED and props.get("url") is None:
        props["url"] = props.get("link_url")


def track_properties(
    event_type: str, properties: Mapping[str, Any], default_currency: str | None
) -> dict[str, Any]:
    """Segment properties renamed for ``event_type``; unknown properties are kept as sent."""
    props = _product_id(dict(properties))
    if "products" in props:
        props["products"] = _products(props["products"])
    if event_type in _ORDER_TYPES:
        _order(props, event_type, default_currency)
    elif event_type in (EventType.EMAIL_SENT, EventType.EMAIL_OPENED, EventType.EMAIL_CLICKED):
        _email(props, event_type)
    return {k: v for k, v in props.items() if v is not None}


def _flatten(name: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and name != "address":
        for inner, item in value.items():
            _flatten(f"{name}_{snake_name(str(inner))}", item, out)
    else:
        out[name] = value


def _trait_value(name: str, value: Any) -> Any:
    """Segment sends birthdays as ISO date-times; our ``birthday`` trait is a date."""
    if name == "birthday" and isinstance(value, str) and "T" in value:
        try:
            return datetime.fromisoformat(value).date().isoformat()
        except ValueError:
            return value
    return value


def map_traits(
    traits: Mapping[str, Any], check: Callable[[str, Any], Any] = check_trait
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(traits under our names, type-checked; traits refused with value and reason).

    ``firstName`` becomes ``first_name``; nested objects other than ``address`` are flattened
    (``company.name`` -> ``company_name``) because custom traits are scalars.
    """
    flat: dict[str, Any] = {}
    for raw_name, value in traits.items():
        _flatten(snake_name(str(raw_name)).replace(".", "_").replace("-", "_"), value, flat)
    accepted: dict[str, Any] = {}
    refused: dict[str, dict[str, Any]] = {}
    for name, value in flat.items():
        if not name:
            continue
        try:
            accepted[name] = check(name, _trait_value(name, value))
        except InvalidInput as exc:
            refused[name] = {"value": value, "reason": exc.message}
    return accepted, refused


def map_consent(
    choices: Mapping[str, bool], table: Mapping[str, ConsentTarget]
) -> dict[str, Any] | None:
    """Our ``Consent`` (as a dict) from category choices; ``None`` when no category is known.

    A purpose governed by several categories is granted only when every one of them is granted.
    """
    purposes: dict[str, bool] = {}
    do_not_sell: bool | None = None
    for category, granted in choices.items():
        target = table.get(category_key(category))
        if target is None:
            continue
        if target == DO_NOT_SELL:
            refused = not granted
            do_not_sell = refused if do_not_sell is None else do_not_sell or refused
        else:
            purposes[str(target)] = purposes.get(str(target), True) and granted
    if not purposes and do_not_sell is None:
        return None
    consent: dict[str, Any] = {"purposes": purposes}
    if do_not_sell is not None:
        consent[DO_NOT_SELL] = do_not_sell
    return consent
