"""Fixtures of the delivery tests: a store per backend, local webhook and SMTP receivers."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from tests.conftest import postgres_settings

from shopwise import store
from shopwise.journeys import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Outbox,
    Sender,
    SmtpConfig,
    SmtpSender,
    WebhookSender,
    verify_signature,
)
from shopwise.privacy import ConsentPolicy, PiiCipher
from shopwise.settings import Settings

SECRET = b"test-webhook-secret"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path / "var", log_level="WARNING")
    else:
        yield from postgres_settings(tmp_path)


@pytest.fixture
def engine(backend_settings: Settings) -> Iterator[sa.Engine]:
    eng = store.create_engine(backend_settings)
    store.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def cipher(engine: sa.Engine) -> PiiCipher:
    return PiiCipher(engine, b"test-secret-key")


@dataclass
class Received:
    key: str
    signed: bool
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """A local webhook endpoint: records every request, answers from a script (an int status,
    or ``("sleep", seconds)`` then 200), then 200; ``hold`` blocks answers while set."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    script: list[Any] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def keys(self) -> Counter[str]:
        return Counter(r.key for r in self.requests)

    def delivered(self) -> set[str]:
        """Idempotency keys the receiver accepted (what it would act on, once each)."""
        return {r.key for r in self.requests if r.signed}

    def answer(self, received: Received) -> int:
        with self.lock:
            self.requests.append(received)
            step = self.script.pop(0) if self.script else 200
        if self.hold.is_set():
            self.release.wait(30)
        if isinstance(step, tuple):
            time.sleep(step[1])
            return 200
        return int(step)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            signed = verify_signature(
                SECRET,
                self.headers.get(TIMESTAMP_HEADER, ""),
                body,
                self.headers.get(SIGNATURE_HEADER, ""),
            )
            received = Received(
                self.headers.get(IDEMPOTENCY_HEADER, ""), signed, body, dict(self.headers)
            )
            status = state.answer(received)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the client timed out and left

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


class Mailbox:
    """An aiosmtpd handler keeping every accepted email; refuses recipients at ``refuse.``."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.delay = 0.0

    @property
    def message_ids(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.messages)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("refuse"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content, policy=default))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 2.0.0 queued"


def free_port() -> int:
    """A port nothing listens on now (aiosmtpd's controller cannot start on port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def smtp_sender(port: int, timeout: float = 5.0) -> SmtpSender:
    config = SmtpConfig(
        host="127.0.0.1",
        port=port,
        starttls=False,
        user=None,
        password=None,
        sender="Shop <shop@shop.example>",
        timeout_seconds=timeout,
    )
    return SmtpSender(config)


def make_outbox(
    engine: sa.Engine,
    cipher: PiiCipher,
    *,
    smtp_port: int | None = None,
    timeout: float = 2.0,
    owner: str | None = None,
    max_attempts: int = 4,
    lease_seconds: float = 60.0,
    seed: int = 7,
) -> Outbox:
    senders: dict[str, Sender] = {"webhook": WebhookSender(SECRET, timeout)}
    if smtp_port is not None:
        senders["email"] = smtp_sender(smtp_port, timeout)
    return Outbox(
        engine,
        ConsentPolicy(),
        cipher,
        senders,
        max_attempts=max_attempts,
        backoff_base_seconds=10.0,
        backoff_max_seconds=1000.0,
        lease_seconds=lease_seconds,
        owner=owner,
        rng=np.random.default_rng(seed),
    )
