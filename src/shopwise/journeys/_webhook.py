"""The webhook channel: a signed JSON POST, in the manner of Stripe's webhooks.

The body is an event envelope (``id``, ``type``, ``created_at``, ``data``: the message's payload).
``X-Shopwise-Timestamp`` carries the send time (epoch seconds) and ``X-Shopwise-Signature`` is
``sha256=`` and the hex HMAC-SHA256, under ``SHOPWISE_WEBHOOK_SECRET``, of the timestamp, a dot
and the raw body: a receiver recomputes it (:func:`verify_signature`) and refuses a timestamp
older than its tolerance, so a captured request cannot be replayed later. ``Idempotency-Key``
repeats the message's key, the same on every attempt, so a receiver drops a second delivery.

A 2xx answer is a delivery; 408, 429, 5xx, redirects, timeouts and network errors are worth
another try; any other 4xx is a refusal the receiver will repeat, so the message is dead at once.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import httpx
import orjson

from shopwise.journeys._message import Delivery, Outgoing

SIGNATURE_HEADER: Final = "X-Shopwise-Signature"
TIMESTAMP_HEADER: Final = "X-Shopwise-Timestamp"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
TOLERANCE_SECONDS: Final = 300.0
"""How old a signed timestamp :func:`verify_signature` accepts by default."""
RETRIED_4XX: Final = frozenset({408, 429})
"""Client errors that say "later", not "never"."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` and the hex HMAC-SHA256 of
    ``timestamp + "." + body`` under ``secret``."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: bytes,
    timestamp: str,
    body: bytes,
    header: str,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether a received webhook is authentic and fresh (for receivers, and tests).

    Parameters
    ----------
    secret
        The shared ``SHOPWISE_WEBHOOK_SECRET``.
    timestamp
        The ``X-Shopwise-Timestamp`` header as received.
    body
        The raw request body, as received (not re-serialised).
    header
        The ``X-Shopwise-Signature`` header as received.
    tolerance
        Seconds the timestamp may lie from ``now`` (either way); older requests are replays.
    now
        The present in epoch seconds (``time.time()`` by default).
    """
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    present = time.time() if now is None else now
    if abs(present - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


@dataclass(frozen=True)
class SignedRequest:
    """A webhook ready to post: the URL, the raw body and its headers."""

    url: str
    body: bytes
    headers: dict[str, str]


class WebhookSender:
    """Posts outbox messages as signed webhooks (see the module docstring).

    Parameters
    ----------
    secret
        The signing key (``SHOPWISE_WEBHOOK_SECRET``).
    timeout_seconds
        Connect, read and write timeout of one POST.
    clock
        The present in epoch seconds, for the signed timestamp (tests pass their own).
    transport
        An httpx transport (tests may pass a mock one); the network by default.
    """

    def __init__(
        self,
        secret: bytes,
        timeout_seconds: float,
        *,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._secret = secret
        self._timeout = timeout_seconds
        self._clock = clock
        self._transport = transport

    def prepare(self, message: Outgoing) -> SignedRequest:
        """The signed request for ``message``, stamped now."""
        created = datetime.fromtimestamp(message.created_at / 1000, UTC).isoformat()
        body = orjson.dumps(
            {
                "id": message.id,
                "type": message.kind,
                "created_at": created,
                "data": message.payload,
            }
        )
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "shopwise-webhooks",
            IDEMPOTENCY_HEADER: message.idempotency_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        return SignedRequest(message.destination, body, headers)

    def post(self, request: SignedRequest) -> Delivery:
        """POST a prepared request once and classify the answer (never raises)."""
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
                response = client.post(request.url, content=request.body, headers=request.headers)
        except httpx.TimeoutException as exc:
            return Delivery("retry", error=f"timeout: {exc.__class__.__name__}")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return Delivery("dead", error=f"{exc.__class__.__name__}: {exc}")
        except httpx.HTTPError as exc:
            return Delivery("retry", error=f"{exc.__class__.__name__}: {exc}")
        return _classified(response.status_code)

    def send(self, message: Outgoing) -> Delivery:
        return self.post(self.prepare(message))


def _classified(status: int) -> Delivery:
    if 200 <= status < 300:
        return Delivery("delivered", status_code=status)
    error = f"HTTP {status}"
    if 400 <= status < 500 and status not in RETRIED_4XX:
        return Delivery("dead", status_code=status, error=error)
    return Delivery("retry", status_code=status, error=error)
