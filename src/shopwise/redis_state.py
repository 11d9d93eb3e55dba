"""What every piece of online state kept in Redis shares: outage tracking and key-name salts.

State shared through Redis (rate-limit buckets, open sessions) falls back to process memory while
Redis is unreachable: requests are never refused for it. :class:`Outage` remembers when Redis
failed, answers whether to ask it again (after ``retry_seconds``), and logs once when an outage
starts and once when it ends. :func:`shared_salt` derives the salt that keys the digests naming
a shopper's keys, alike in every process that runs with the same ``SHOPWISE_SECRET_KEY``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from shopwise.settings import Settings

PREFIX: Final = "shopwise"
"""Default prefix of the Redis keys (``SHOPWISE_REDIS_PREFIX``)."""
RETRY_SECONDS: Final = 5.0
"""How long state is kept in process after Redis failed before Redis is asked again."""
TIMEOUT_SECONDS: Final = 0.25
"""Connect and read timeout of a call: a hung Redis delays a request by at most this."""


class Outage:
    """Whether Redis is to be asked now, for state that falls back to process memory.

    Parameters
    ----------
    log
        Where the start and the end of an outage are logged (once each).
    fallback
        What happens meanwhile, for the log (``"sessions are assigned per process"``).
    restored
        What holds again once Redis answers, for the log (``"sessions are shared"``).
    retry_seconds
        How long after a failed call Redis is left alone.
    clock
        Monotonic time in seconds.
    """

    def __init__(
        self,
        log: logging.Logger,
        fallback: str,
        restored: str,
        retry_seconds: float = RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._fallback = fallback
        self._restored = restored
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._down_since: float | None = None
        self._lock = threading.Lock()

    @property
    def up(self) -> bool:
        """Whether the last call to Redis succeeded (false while falling back)."""
        return self._down_since is None

    def ask_redis(self) -> bool:
        """Whether to call Redis now: it is up, or the retry delay has passed."""
        down = self._down_since
        return down is None or self._clock() - down >= self._retry_seconds

    def failed(self, exc: Exception) -> None:
        """A call failed: fall back until the retry delay passes (logged when it starts)."""
        with self._lock:
            first = self._down_since is None
            self._down_since = self._clock()
        if first:
            self._log.warning("redis unreachable: %s until it answers (%s)", self._fallback, exc)

    def answered(self) -> None:
        """A call succeeded (logged when it ends an outage)."""
        if self._down_since is None:
            return
        with self._lock:
            was_down = self._down_since is not None
            self._down_since = None
        if was_down:
            self._log.warning("redis answers again: %s again", self._restored)


def shared_salt(settings: Settings, purpose: bytes) -> bytes:
    """The digest salt for ``purpose`` that every process derives alike from the secret key (one
    shopper's keys must have one name in all of them); it is not the key itself."""
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, purpose, hashlib.sha256).digest()[:16]
