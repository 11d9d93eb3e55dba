"""The email channel: one SMTP conversation per message (smtplib), STARTTLS and login optional.

The message is ``multipart/alternative`` (the payload's ``text``, then its ``html``) or plain text
when the payload has no HTML. Its ``Message-ID`` is derived from the idempotency key, the same on
every attempt, so a mailbox provider or a relay that deduplicates drops a repeated delivery.

A 5xx refusal of the recipient or of the message is permanent (dead at once); everything else
that fails (no connection, a timeout, a 4xx, a refused login or sender: configuration that will be
fixed) is worth another try.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, parseaddr

from shopwise.journeys._message import Delivery, Outgoing


def message_id(idempotency_key: str, domain: str) -> str:
    """The Message-ID of the email with ``idempotency_key`` (a hash: the key stays private)."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}@{domain}>"


@dataclass(frozen=True)
class SmtpConfig:
    """Where and as whom the email channel sends (the ``SHOPWISE_SMTP_*`` settings)."""

    host: str | None
    port: int
    starttls: bool
    user: str | None
    password: str | None
    sender: str
    timeout_seconds: float


class _Refused(Exception):
    def __init__(self, code: int, reply: str, stage: str) -> None:
        super().__init__(f"{stage} refused: {code} {reply}")
        self.code, self.reply, self.stage = code, reply, stage


class SmtpSender:
    """Sends outbox emails through one SMTP server (see the module docstring).

    Parameters
    ----------
    config
        Server, port, STARTTLS, login and the From address.
    tls
        The TLS context of STARTTLS (the system's trusted roots by default).
    """

    def __init__(self, config: SmtpConfig, tls: ssl.SSLContext | None = None) -> None:
        self._config = config
        self._tls = tls
        self._domain = parseaddr(config.sender)[1].rpartition("@")[2] or "localhost"

    def build(self, message: Outgoing) -> EmailMessage:
        """The email for ``message``: headers, text part and HTML alternative."""
        email = EmailMessage(policy=SMTP)
        email["From"] = self._config.sender
        email["To"] = message.destination
        email["Subject"] = str(message.payload["subject"])
        email["Date"] = formatdate(message.created_at / 1000, usegmt=True)
        email["Message-ID"] = message_id(message.idempotency_key, self._domain)
        email.set_content(str(message.payload["text"]))
        html = message.payload.get("html")
        if html:
            email.add_alternative(str(html), subtype="html")
        return email

    def send(self, message: Outgoing) -> Delivery:
        config = self._config
        if not config.host:
            return Delivery("retry", error="SHOPWISE_SMTP_HOST is not set")
        email = self.build(message)
        try:
            with smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds) as smtp:
                code, reply = self._converse(smtp, email, message.destination)
        except _Refused as exc:
            permanent = exc.code >= 500 and exc.stage in ("recipient", "message")
            return Delivery(
                "dead" if permanent else "retry", exc.code, exc.reply, f"{exc.stage} refused"
            )
        except smtplib.SMTPResponseException as exc:
            reply = _text(exc.smtp_error)
            return Delivery("retry", exc.smtp_code, reply, f"{exc.__class__.__name__}")
        except (smtplib.SMTPException, OSError) as exc:
            return Delivery("retry", error=f"{exc.__class__.__name__}: {exc}")
        return Delivery("delivered", code, reply)

    def _converse(self, smtp: smtplib.SMTP, email: EmailMessage, to: str) -> tuple[int, str]:
        config = self._config
        smtp.ehlo()
        if config.starttls:
            smtp.starttls(context=self._tls or ssl.create_default_context())
            smtp.ehlo()
        if config.user:
            smtp.login(config.user, config.password or "")
        code, reply = smtp.mail(parseaddr(config.sender)[1])
        if code != 250:
            raise _Refused(code, _text(reply), "sender")
        code, reply = smtp.rcpt(to)
        if code not in (250, 251):
            raise _Refused(code, _text(reply), "recipient")
        code, reply = smtp.data(email.as_bytes())
        if code != 250:
            raise _Refused(code, _text(reply), "message")
        return code, _text(reply)


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply
