"""Identity verification: which user ids a public write key may vouch for.

A write key lives in every shopper's browser, so a user id it sends is only a claim. The shop's
backend, which knows who is logged in, proves it by computing ``user_hash = hex(HMAC-SHA256(
identity secret, user_id))`` and handing it to the page (as Intercom's identity verification
does). The identity secret is derived from ``SHOPWISE_SECRET_KEY`` with HKDF, under a label of its
own, so it reveals neither the secret key nor the keys derived from it for PII at rest, and
``shopwise keys identity-secret`` prints it for the shop's backend.

The collector asks :meth:`IdentityVerifier.verifies` of every write-key event with a user id and
stores the verdict on the row; the serving routes ask it of a write key's ``user_id`` query.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shopwise.settings import Settings

INFO: Final = b"identity-verification"
"""The HKDF label of the identity secret (the PII key-wrapping key uses another)."""


def identity_secret(secret_key: bytes) -> str:
    """The identity secret of ``SHOPWISE_SECRET_KEY``: 64 hex digits, used as the HMAC key's text.

    Derived like the PII key-wrapping key (HKDF-SHA256, salt ``shopwise``) with its own ``info``.
    """
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"shopwise", info=INFO)
    return hkdf.derive(secret_key).hex()


def user_hash(secret: str, user_id: str) -> str:
    """``hex(HMAC-SHA256(secret, user_id))``: what the shop's backend computes."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


class IdentityVerifier:
    """Checks ``user_hash`` values against the identity secret; ``required`` is the mode
    (``SHOPWISE_IDENTITY_VERIFICATION``): whether a write key's unproven user id is refused."""

    def __init__(self, secret: str, required: bool = False) -> None:
        self._key = secret.encode()
        self.required = required

    @classmethod
    def from_settings(cls, settings: Settings) -> IdentityVerifier:
        secret = identity_secret(settings.secret_key.get_secret_value().encode())
        return cls(secret, required=settings.identity_verification == "required")

    def verifies(self, user_id: str, given: str | None) -> bool:
        """Whether ``given`` is the user hash of ``user_id`` (compared in constant time)."""
        if not given:
            return False
        expected = hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), given.strip().lower().encode())
