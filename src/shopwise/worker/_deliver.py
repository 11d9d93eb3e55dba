"""The delivery job of the worker: send the journeys' outbox messages that are due.

Runs every few seconds in the short lane (:data:`DELIVER_SECONDS`), so a message enqueued by a
trigger leaves within seconds of its commit. :meth:`~shopwise.journeys.Outbox.dispatch_due` does
the work under per-message leases, so the job's own lock is only a courtesy: two workers running
it at once would still never send one message twice.
"""

from __future__ import annotations

from typing import Any, Final

from shopwise.journeys import Outbox
from shopwise.logs import Progress
from shopwise.runtime import Runtime
from shopwise.worker._scheduler import Job, worker_id

DELIVER_SECONDS: Final = 5.0
"""How often the worker sends the outbox messages that are due."""
DELIVER_JOB: Final = "deliver-messages"


def deliver_job(runtime: Runtime, every_seconds: float = DELIVER_SECONDS) -> Job:
    """Send the due outbox messages through their channels (the ``SHOPWISE_SMTP_*`` and
    webhook settings) and record each attempt."""
    owner = f"{worker_id()[:50]}:deliver"
    outbox = Outbox.from_settings(
        runtime.settings, runtime.engine, runtime.consent, runtime.cipher, owner=owner
    )

    def run(_progress: Progress) -> dict[str, Any]:
        return outbox.dispatch_due().public()

    return Job(DELIVER_JOB, every_seconds, run)
