"""A separate process for the crash tests: enqueue and commit (then hang, or dispatch), or
dispatch what is due. Run as ``python tests/journeys/_child.py MODE DATABASE_URL DATA_DIR ...``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from shopwise import store
from shopwise.journeys import Message, Outbox, SmtpConfig, SmtpSender, WebhookSender
from shopwise.privacy import ConsentPolicy, PiiCipher
from shopwise.settings import Settings

SECRET = b"test-webhook-secret"
LEASE_SECONDS = 30.0


def main() -> None:
    mode, url, data_dir, smtp_port, channel, destination, key, now = sys.argv[1:9]
    engine = store.create_engine(Settings(database_url=url, data_dir=Path(data_dir)))
    smtp = SmtpConfig("127.0.0.1", int(smtp_port), False, None, None, "shop@shop.example", 5.0)
    outbox = Outbox(
        engine,
        ConsentPolicy(),
        PiiCipher(engine, b"test-secret-key"),
        {"webhook": WebhookSender(SECRET, 5.0), "email": SmtpSender(smtp)},
        lease_seconds=LEASE_SECONDS,
        rng=np.random.default_rng(0),
    )
    if mode in ("commit", "inflight"):
        payload = {"subject": "s", "text": "t"} if channel == "email" else {"n": 1}
        message = Message(channel, destination, payload, key)  # type: ignore[arg-type]
        with store.write_transaction(engine) as conn:
            outbox.enqueue(conn, message)
        print("committed", flush=True)
        if mode == "commit":
            time.sleep(600)  # killed here, before any dispatch
        outbox.dispatch_due()  # killed while the send is in flight
        time.sleep(600)
    summary = outbox.dispatch_due(now=float(now) if now != "-" else None)
    print(json.dumps(summary.public()), flush=True)


if __name__ == "__main__":
    main()
