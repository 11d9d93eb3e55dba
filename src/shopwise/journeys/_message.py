"""What a journey hands the outbox (:class:`Message`), what a channel is given to send
(:class:`Outgoing`) and what it answers (:class:`Delivery`), with the checks made at enqueue."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Any, Final, Literal, Protocol

import httpx

from shopwise.errors import InvalidInput
from shopwise.schema import Purpose

Channel = Literal["email", "webhook"]
CHANNELS: Final = ("email", "webhook")

PENDING: Final = "pending"
"""Enqueued, never tried."""
SENDING: Final = "sending"
"""Claimed by a dispatcher whose lease runs until ``lease_expires_at``."""
DELIVERED: Final = "delivered"
FAILED: Final = "failed"
"""The last attempt failed; tried again at ``next_attempt_at``."""
DEAD: Final = "dead"
"""Never tried again: refused for good by the receiver, or out of attempts."""
SUPPRESSED: Final = "suppressed"
"""Dropped at send time: the person no longer allows the message's purpose."""
STATUSES: Final = (PENDING, SENDING, DELIVERED, FAILED, DEAD, SUPPRESSED)

Outcome = Literal["delivered", "retry", "dead"]
"""What a channel says of one attempt: done, worth another try, or refused for good."""

_KEY: Final = re.compile(r"[\x21-\x7e]{1,200}")
"""Printable ASCII without spaces: the key travels in an HTTP header and a Message-ID."""
_KIND: Final = re.compile(r"[a-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class Message:
    """A message to deliver, as a trigger (or any producer) enqueues it.

    Attributes
    ----------
    channel
        ``email`` or ``webhook``.
    destination
        The email address, or the webhook's http(s) URL.
    payload
        JSON. For email: ``subject`` and ``text`` (plain-text part), optionally ``html``
        (then sent as multipart/alternative). For webhooks: the event's ``data``.
    idempotency_key
        Unique per message: enqueueing the same key again stores nothing; receivers get it
        (``Idempotency-Key`` header, the email's Message-ID) to drop a repeated delivery.
    kind
        What the message is (``cart_abandonment``), sent as the webhook event's ``type``.
    profile_id
        The canonical profile it is about, for consent at send time and erasure; ``None`` for
        messages about no one person.
    purpose
        The consent purpose the message serves (marketing for triggered messages).
    send_after
        Not delivered before this time (epoch ms); ``None``: as soon as possible.
    """

    channel: Channel
    destination: str
    payload: Mapping[str, Any]
    idempotency_key: str
    kind: str = "message"
    profile_id: str | None = None
    purpose: str = Purpose.MARKETING
    send_after: int | None = None


@dataclass(frozen=True)
class Outgoing:
    """One message as a channel sends it: destination and payload in the clear."""

    id: str
    idempotency_key: str
    kind: str
    destination: str
    payload: Mapping[str, Any]
    created_at: int
    """Epoch ms."""


@dataclass(frozen=True)
class Delivery:
    """The result of one attempt: the outcome, the HTTP status or SMTP reply code, the SMTP
    reply text, and the error when it failed."""

    outcome: Outcome
    status_code: int | None = None
    reply: str | None = None
    error: str | None = None


class Sender(Protocol):
    """A delivery channel: sends one message, never raises for a failed delivery."""

    def send(self, message: Outgoing) -> Delivery: ...


@dataclass(frozen=True)
class Enqueued:
    """The outbox row of an enqueued message: ``created`` is false when its idempotency key
    was already stored (the message was enqueued before; nothing was added)."""

    message_id: str
    created: bool


def _invalid(name: str, message: str) -> InvalidInput:
    return InvalidInput(message, details=[{"field": name, "message": message}])


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host; :class:`InvalidInput` if not."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise _invalid("destination", f"not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise _invalid("destination", f"not an http(s) URL with a host: {url!r}")
    return url


def check_address(address: str) -> str:
    """``address`` if it is one plain email address (``name@domain``)."""
    if not address:
        raise _invalid("destination", "an email needs an address")
    try:
        parsed = Address(addr_spec=address)
    except (HeaderParseError, ValueError, IndexError) as exc:
        raise _invalid("destination", f"not an email address: {exc}") from None
    if not parsed.username or "." not in parsed.domain or parsed.addr_spec != address:
        raise _invalid("destination", f"not a plain email address: {address!r}")
    return address


def check_message(message: Message) -> None:
    """Refuse a message no channel could send (:class:`InvalidInput` naming the field)."""
    if message.channel not in CHANNELS:
        raise _invalid("channel", f"channel must be one of {list(CHANNELS)}")
    if not _KEY.fullmatch(message.idempotency_key):
        raise _invalid(
            "idempotency_key", "idempotency_key must be 1 to 200 printable ASCII characters"
        )
    if not _KIND.fullmatch(message.kind):
        raise _invalid("kind", "kind must be 1 to 64 of a-z, 0-9, '_', '.', '-'")
    if message.purpose not in {p.value for p in Purpose}:
        raise _invalid("purpose", f"unknown purpose {message.purpose!r}")
    if message.channel == "webhook":
        check_url(message.destination)
        return
    check_address(message.destination)
    for name in ("subject", "text"):
        if not isinstance(message.payload.get(name), str) or not message.payload[name]:
            raise _invalid(f"payload.{name}", f"an email's payload needs a non-empty {name}")
    html = message.payload.get("html")
    if html is not None and not isinstance(html, str):
        raise _invalid("payload.html", "html must be a string")
