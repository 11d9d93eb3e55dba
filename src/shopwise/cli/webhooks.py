"""``shopwise webhooks test URL``: send one signed test event to a receiver, as the outbox would.

The event is signed with ``SHOPWISE_WEBHOOK_SECRET`` exactly as the journeys' webhooks are
(:class:`shopwise.journeys.WebhookSender`), but sent once, directly, without the outbox: the
command prints the answer's status, the latency and the signature headers, so a shop can check
its receiver's verification. A bad URL or a failed delivery exits 2 with one line.
"""

from __future__ import annotations

import time
import uuid

import typer

from shopwise.cli._common import console, fail, load_settings

app = typer.Typer(help="Signed webhooks of the journeys.", no_args_is_help=True)


@app.command("test")
def test(url: str = typer.Argument(..., help="The receiver's http(s) URL.")) -> None:
    """POST a signed ``webhook.test`` event to URL; print status, latency and signature."""
    from shopwise.errors import InvalidInput
    from shopwise.journeys import (
        SIGNATURE_HEADER,
        TIMESTAMP_HEADER,
        Outgoing,
        WebhookSender,
        check_url,
    )

    settings = load_settings()
    try:
        check_url(url)
    except InvalidInput as exc:
        fail(exc.message)
    sender = WebhookSender(
        settings.webhook_secret.get_secret_value().encode(), settings.delivery_timeout_seconds
    )
    key = f"test-{uuid.uuid4().hex}"
    event = Outgoing(
        id=key,
        idempotency_key=key,
        kind="webhook.test",
        destination=url,
        payload={"message": "shopwise webhook test"},
        created_at=int(time.time() * 1000),
    )
    request = sender.prepare(event)
    started = time.perf_counter()
    delivery = sender.post(request)
    latency = (time.perf_counter() - started) * 1000
    if delivery.outcome != "delivered":
        fail(f"delivery failed: {delivery.error} after {latency:.0f} ms")
    console.print(
        f"status {delivery.status_code}, latency {latency:.0f} ms", highlight=False, soft_wrap=True
    )
    console.print(
        f"{TIMESTAMP_HEADER}: {request.headers[TIMESTAMP_HEADER]}", highlight=False, soft_wrap=True
    )
    console.print(
        f"{SIGNATURE_HEADER}: {request.headers[SIGNATURE_HEADER]}", highlight=False, soft_wrap=True
    )
