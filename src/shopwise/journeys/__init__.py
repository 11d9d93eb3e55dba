"""Journeys: messages that leave shopwise for a shopper (email) or a shop's tools (webhooks).

This package is the delivery layer. A producer (a trigger deciding a cart-abandonment email)
builds a :class:`Message` and calls :meth:`Outbox.enqueue` on its own connection, inside the
transaction that records its decision; the worker's ``deliver-messages`` job calls
:meth:`Outbox.dispatch_due`, which claims due messages under a lease, sends them through their
channel (:class:`WebhookSender`: signed JSON POSTs; :class:`SmtpSender`: multipart emails),
records each attempt in the delivery log and retries with exponential backoff and full jitter
until ``dead``. Consent is checked again at send time; receivers verify webhooks with
:func:`verify_signature`.

The triggers are the producer: a :class:`TriggerSet` (YAML, versioned by :func:`trigger_store`)
declares them, :func:`due` decides for one person at one instant (consent, caps, quiet hours,
priorities, conversion, holdout), and the worker's ``journeys`` job runs :class:`TriggerRunner`,
which records every decision and enqueues a fired one's message (:class:`Composer`,
:class:`Templates`) with it.
"""

from shopwise.journeys._audiences import (
    DELIVERED_KIND,
    AudienceDelivery,
    deliver_audiences,
    last_delivered,
)
from shopwise.journeys._message import (
    CHANNELS,
    DEAD,
    DELIVERED,
    FAILED,
    PENDING,
    SENDING,
    STATUSES,
    SUPPRESSED,
    Channel,
    Delivery,
    Enqueued,
    Message,
    Outgoing,
    Sender,
    check_url,
)
from shopwise.journeys._messages import (
    Composer,
    Personalizer,
    Recommended,
    Rendered,
    Templates,
    offer_of,
    tracked,
)
from shopwise.journeys._outbox import (
    DispatchSummary,
    Outbox,
    backoff_seconds,
    smtp_config,
)
from shopwise.journeys._smtp import SmtpConfig, SmtpSender, message_id
from shopwise.journeys._triggers import (
    TRIGGER_KINDS,
    Caps,
    QuietHours,
    TriggerAudience,
    TriggerConfig,
    TriggerSet,
    default_triggers_text,
    trigger_store,
)
from shopwise.journeys._triggers_engine import (
    OUTCOMES,
    CatalogChange,
    Decision,
    Known,
    Person,
    due,
    in_holdout,
    next_look,
    quiet_until,
    reachable,
)
from shopwise.journeys._triggers_run import (
    TriggerRun,
    TriggerRunner,
    idempotency_key,
    render_stored,
    stored_message,
)
from shopwise.journeys._webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignedRequest,
    WebhookSender,
    sign,
    verify_signature,
)

__all__ = [
    "CHANNELS",
    "DEAD",
    "DELIVERED",
    "DELIVERED_KIND",
    "FAILED",
    "IDEMPOTENCY_HEADER",
    "OUTCOMES",
    "PENDING",
    "SENDING",
    "SIGNATURE_HEADER",
    "STATUSES",
    "SUPPRESSED",
    "TIMESTAMP_HEADER",
    "TRIGGER_KINDS",
    "AudienceDelivery",
    "Caps",
    "CatalogChange",
    "Channel",
    "Composer",
    "Decision",
    "Delivery",
    "DispatchSummary",
    "Enqueued",
    "Known",
    "Message",
    "Outbox",
    "Outgoing",
    "Person",
    "Personalizer",
    "QuietHours",
    "Recommended",
    "Rendered",
    "Sender",
    "SignedRequest",
    "SmtpConfig",
    "SmtpSender",
    "Templates",
    "TriggerAudience",
    "TriggerConfig",
    "TriggerRun",
    "TriggerRunner",
    "TriggerSet",
    "WebhookSender",
    "backoff_seconds",
    "check_url",
    "default_triggers_text",
    "deliver_audiences",
    "due",
    "idempotency_key",
    "in_holdout",
    "last_delivered",
    "message_id",
    "next_look",
    "offer_of",
    "quiet_until",
    "reachable",
    "render_stored",
    "sign",
    "smtp_config",
    "stored_message",
    "tracked",
    "trigger_store",
    "verify_signature",
]
