"""Privacy: which personal data may serve which purpose, decided in one place.

:func:`allows` answers for a profile's consent choices and :func:`event_allows` for an event's own
statement; :class:`ConsentedEvents` is the one reader of the event store for a purpose, used by
recommender training, the customer features and the evaluation of the shop's own data.
"""

from shopwise.privacy._consent import (
    OPT_IN,
    Choices,
    allowed_profiles,
    allows,
    consent_by_profile,
    event_allows,
    profile_consent,
)
from shopwise.privacy._events import ConsentedEvent, ConsentedEvents, identity_owners

__all__ = [
    "OPT_IN",
    "Choices",
    "ConsentedEvent",
    "ConsentedEvents",
    "allowed_profiles",
    "allows",
    "consent_by_profile",
    "event_allows",
    "identity_owners",
    "profile_consent",
]
