"""Privacy: which personal data may serve which purpose, decided in one place.

:class:`ConsentPolicy` answers for a person's consent choices (what silence means is its mode per
purpose, from the settings) and :func:`event_allows` for an event's own statement;
:class:`ConsentedEvents` is the one reader of the event store for a purpose, used by recommender
training, the customer features and the evaluation of the shop's own data.
"""

from shopwise.privacy._consent import (
    DEFAULT_MODES,
    Choices,
    ConsentPolicy,
    consent_by_profile,
    event_allows,
    profile_consent,
)
from shopwise.privacy._crypto import DataKeyError, PiiCipher, is_token
from shopwise.privacy._events import (
    ConsentedEvent,
    ConsentedEvents,
    identity_owners,
    owners_of,
)
from shopwise.privacy._suppression import Suppression

__all__ = [
    "DEFAULT_MODES",
    "Choices",
    "ConsentPolicy",
    "ConsentedEvent",
    "ConsentedEvents",
    "DataKeyError",
    "PiiCipher",
    "Suppression",
    "consent_by_profile",
    "event_allows",
    "identity_owners",
    "is_token",
    "owners_of",
    "profile_consent",
]
