"""The email channel against a local SMTP server (aiosmtpd) started by the tests."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.journeys.conftest import Mailbox, free_port, make_outbox

from shopwise.journeys import Message, SmtpConfig, SmtpSender, message_id
from shopwise.privacy import PiiCipher
from shopwise.store import write_transaction

EMAIL = {"subject": "Your cart misses you", "text": "Come back: sku-1", "html": "<p>sku-1</p>"}


@pytest.fixture
def backend_settings(tmp_path):  # type: ignore[no-untyped-def]
    """SQLite only: the channel, not the store, is under test here."""
    from shopwise.settings import Settings

    return Settings(data_dir=tmp_path / "var", log_level="WARNING")


def test_email_is_multipart_alternative_with_a_message_id_from_the_key(
    engine: sa.Engine, cipher: PiiCipher, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    outbox = make_outbox(engine, cipher, smtp_port=port)
    with write_transaction(engine) as conn:
        enqueued = outbox.enqueue(conn, Message("email", "ada@shop.example", EMAIL, "cart-7"))
    assert outbox.dispatch_due().delivered == 1
    [email] = box.messages
    assert email.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in email.iter_parts()]  # type: ignore[attr-defined]
    assert parts == ["text/plain", "text/html"]
    assert email["To"] == "ada@shop.example" and email["Subject"] == EMAIL["subject"]
    assert email["Message-ID"] == message_id("cart-7", "shop.example")
    assert "cart-7" not in email["Message-ID"]
    [attempt] = outbox.attempts(enqueued.message_id)
    assert attempt["status_code"] == 250 and "queued" in attempt["reply"]


def test_text_only_email_is_plain(
    engine: sa.Engine, cipher: PiiCipher, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    outbox = make_outbox(engine, cipher, smtp_port=port)
    with write_transaction(engine) as conn:
        outbox.enqueue(
            conn, Message("email", "ada@shop.example", {"subject": "s", "text": "t"}, "plain")
        )
    assert outbox.dispatch_due().delivered == 1
    assert box.messages[0].get_content_type() == "text/plain"


def test_refused_recipient_is_dead_at_once(
    engine: sa.Engine, cipher: PiiCipher, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    outbox = make_outbox(engine, cipher, smtp_port=port)
    with write_transaction(engine) as conn:
        enqueued = outbox.enqueue(conn, Message("email", "refuse@shop.example", EMAIL, "nobody"))
    assert outbox.dispatch_due().dead == 1
    [attempt] = outbox.attempts(enqueued.message_id)
    assert attempt["status_code"] == 550 and attempt["error"] == "recipient refused"
    assert box.messages == []


def test_unreachable_server_is_retried(engine: sa.Engine, cipher: PiiCipher) -> None:
    outbox = make_outbox(engine, cipher, smtp_port=9)
    with write_transaction(engine) as conn:
        enqueued = outbox.enqueue(conn, Message("email", "ada@shop.example", EMAIL, "later"))
    assert outbox.dispatch_due().retrying == 1
    row = outbox.message(enqueued.message_id)
    assert row is not None and row["status"] == "failed"


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_starttls_and_login(engine: sa.Engine, cipher: PiiCipher, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(*args: Any) -> AuthResult:
        data = args[-1]
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret")

    box, port = Mailbox(), free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        config = SmtpConfig("127.0.0.1", port, True, "shop", "s3cret", "shop@shop.example", 5.0)
        sender = SmtpSender(config, tls=ssl.create_default_context(cafile=str(cert)))
        outbox = make_outbox(engine, cipher)
        outbox._senders["email"] = sender
        with write_transaction(engine) as conn:
            outbox.enqueue(conn, Message("email", "ada@shop.example", EMAIL, "tls-1"))
        assert outbox.dispatch_due().delivered == 1
        assert logins == [(b"shop", b"s3cret")] and len(box.messages) == 1
        # without STARTTLS the server refuses to go on: retried, never sent in the clear
        plain = SmtpSender(SmtpConfig("127.0.0.1", port, False, None, None, "s@shop.example", 5.0))
        outbox._senders["email"] = plain
        with write_transaction(engine) as conn:
            outbox.enqueue(conn, Message("email", "ada@shop.example", EMAIL, "tls-2"))
        assert outbox.dispatch_due().retrying == 1
        assert len(box.messages) == 1
    finally:
        controller.stop()
