"""The exception tree of shopwise; ``api/`` maps it to HTTP in one place.

::

    ShopwiseError                    code            HTTP
    +-- InvalidInput                 invalid_input   400 (subclasses set their own code)
    |   +-- PayloadTooLarge          payload_too_large 413
    +-- AuthError                    unauthorized    401
    |   +-- Forbidden                forbidden       403
    +-- NotFound                     not_found       404
    +-- Conflict                     conflict        409
    |   +-- NotEnoughData            not_enough_data 409
    +-- RateLimited                  rate_limited    429
    +-- Unavailable                  unavailable     503
        +-- ModelNotTrained          model_not_trained 503

Services raise these; no service knows about HTTP status codes beyond the ``status`` attribute
that the API's single exception handler reads.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ShopwiseError(Exception):
    """Base of every error shopwise raises on purpose."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(
        self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = code or self.code
        self.details = details or []


class InvalidInput(ShopwiseError):
    code = "invalid_input"
    status = 400


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"
    status = 413


class AuthError(ShopwiseError):
    code = "unauthorized"
    status = 401


class Forbidden(AuthError):
    code = "forbidden"
    status = 403


class NotFound(ShopwiseError):
    code = "not_found"
    status = 404


class Conflict(ShopwiseError):
    code = "conflict"
    status = 409


class NotEnoughData(Conflict):
    """The store does not (yet) hold the data a model needs: no consented events, too short a
    history, too few positive examples."""

    code = "not_enough_data"


class RateLimited(ShopwiseError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(ShopwiseError):
    code = "unavailable"
    status = 503


class ModelNotTrained(Unavailable):
    """A model that a read, an export or a job needs has not been trained yet."""

    code = "model_not_trained"
