"""Data minimization at ingestion: which properties an event keeps, and its IP address truncated.

Each event type's properties model (:data:`shopwise.schema.PROPERTIES`) declares what shopwise
reads of that type, and validation lets a shop send more. Before an event is stored, its
properties are cut down to

- the fields its model declares (inside ``products[]``, the fields of a product line),
- :data:`ALWAYS_KEPT`: what shopwise reads or writes beyond the models,
- the names the shop allows (:class:`Minimizer`, ``SHOPWISE_EXTRA_PROPERTIES``), for every type
  (``*``) or for one type; an allowed name is kept at the top level and in the product lines.

Everything else is dropped without a trace: the event is neither rejected nor dead-lettered, and
the names dropped are not recorded either. They describe the shop's tracking plan, not the
shopper, so the place to see them is the shop's own configuration: a shop checks what it keeps by
reading an event back (``GET /v1/profiles/{id}/events``). ``docs/privacy.md`` states the rule.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterable, Mapping
from typing import Any, Final

from pydantic import BaseModel

from shopwise.errors import InvalidInput
from shopwise.schema import EventType, properties_model

EVERY_TYPE: Final = "*"
"""Key of the names kept on events of every type."""

ALWAYS_KEPT: Final[Mapping[str, frozenset[str]]] = {
    # the row's product column is taken from any type's product_id, and the customer features
    # read price, category and brand from every event (a page's category included); a click, an
    # add to cart or a banner click names the answer it came from (KPIs, experiments, bandits)
    EVERY_TYPE: frozenset(
        {"product_id", "price", "category", "brand", "event_name", "recommendation_id"}
    ),
    # profiles record where traits came from; the Segment translation keeps refused traits
    EventType.IDENTIFY: frozenset({"source", "refused_traits"}),
    # shopwise's own exposures name the model, rule set and fallback that made the answer (KPIs)
    EventType.RECOMMENDATION_VIEWED: frozenset({"model_version", "rules_version", "fallback"}),
    # the Segment translation of page and screen calls, and of group calls
    EventType.PAGE_VIEWED: frozenset({"name", "screen"}),
    "custom:group": frozenset({"group_id", "traits"}),
}
"""Properties kept beyond the models' fields whatever the settings say: shopwise itself reads
them (the product fields, an identify's ``source``) or writes them (``event_name``, the Segment
translation's original name of a ``custom:`` event, and the other translated calls' fields)."""

IPV4_PREFIX: Final = 24
IPV6_PREFIX: Final = 48


def truncate_ip(value: str) -> str | None:
    """``value``'s network: IPv4 to /24, IPv6 to /48; ``None`` when it is not an IP address.

    An IPv4 address written as IPv6 (``::ffff:203.0.113.77``) is truncated as the IPv4 address
    it is, since its first 48 bits say nothing. The address is read and written by the C
    library (every event carries one, so the ``ipaddress`` objects' cost shows per event).
    """
    text = value.strip().partition("%")[0]  # an IPv6 zone (interface) says nothing more
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            packed = socket.inet_pton(family, text)
        except (OSError, ValueError):
            continue
        if packed[:12] == _IPV4_MAPPED:
            packed, family = packed[12:], socket.AF_INET
        kept = (IPV4_PREFIX if family == socket.AF_INET else IPV6_PREFIX) // 8
        return socket.inet_ntop(family, packed[:kept] + bytes(len(packed) - kept))
    return None


_IPV4_MAPPED: Final = bytes(10) + b"\xff\xff"
"""The first twelve bytes of an IPv4 address written as IPv6 (``::ffff:a.b.c.d``)."""


class Minimizer:
    """The properties an event keeps before storage (see module docstring).

    Parameters
    ----------
    extra
        Event type (or ``*`` for every type) -> names of properties kept beyond what the type's
        model declares and :data:`ALWAYS_KEPT`. Empty (the default) keeps only those.

    Raises
    ------
    InvalidInput
        A key is neither ``*`` nor an event type (built-in or ``custom:<name>``), or its value
        is not a list of non-empty names.
    """

    def __init__(self, extra: Mapping[str, Iterable[str]] | None = None) -> None:
        allowed = {key: _names(key, names) for key, names in (extra or {}).items()}
        everywhere = ALWAYS_KEPT[EVERY_TYPE] | allowed.get(EVERY_TYPE, frozenset())
        self._everywhere = everywhere
        self._kept = {
            key: everywhere | ALWAYS_KEPT.get(key, frozenset()) | allowed.get(key, frozenset())
            for key in {*ALWAYS_KEPT, *allowed} - {EVERY_TYPE}
        }

    def kept(self, event_type: str) -> frozenset[str]:
        """Names kept on events of ``event_type`` beyond its model's fields."""
        return self._kept.get(event_type, self._everywhere)

    def properties(self, event_type: str, validated: BaseModel) -> dict[str, Any]:
        """The properties to store of an event whose properties validated as ``validated``.

        ``None`` values are left out, as validation always did.
        """
        stored = validated.model_dump(exclude_none=True)
        kept = self.kept(event_type)
        _drop_extras(validated, stored, kept)
        for name in _line_fields(type(validated)):
            lines = getattr(validated, name)
            if isinstance(lines, list) and lines and isinstance(lines[0], BaseModel):
                for line, dumped in zip(lines, stored[name], strict=True):
                    _drop_extras(line, dumped, kept)
        return stored


@functools.cache
def _line_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a properties model that may hold a list of product lines."""
    return tuple(
        name for name, info in model.model_fields.items() if "list" in str(info.annotation).lower()
    )


def _drop_extras(validated: BaseModel, dumped: dict[str, Any], kept: frozenset[str]) -> None:
    for name in validated.model_extra or ():
        if name not in kept:
            dumped.pop(name, None)


def _names(key: str, names: Iterable[str]) -> frozenset[str]:
    """The names allowed under ``key``, checked: a mistyped type would silently keep nothing."""
    if key != EVERY_TYPE and properties_model(key) is None:
        raise InvalidInput(
            f"extra_properties: {key!r} is neither '*' nor an event type "
            "(a built-in type or 'custom:<name>')",
            code="invalid_setting",
        )
    if isinstance(names, str) or not all(isinstance(name, str) and name for name in names):
        raise InvalidInput(
            f"extra_properties: {key!r} must list property names (non-empty strings)",
            code="invalid_setting",
        )
    return frozenset(names)
