"""Unified profiles: the real-time identity graph, the profile fold, declared traits."""

from shopwise.profiles._cache import LOCAL_TTL, REMOTE_TTL, ProfileCache
from shopwise.profiles._consent import (
    consent_choices,
    event_allows,
    identity_owners,
    refusing_profiles,
)
from shopwise.profiles._identity import (
    IdentityGraph,
    Link,
    anon_key,
    profile_id_for,
    user_key,
)
from shopwise.profiles._service import CONSUMER, Profiles, ProfileView, links_of
from shopwise.profiles._state import RECENT, ProfileState
from shopwise.profiles._traits import TRAITS, TraitSpec, check_trait, is_pii

__all__ = [
    "CONSUMER",
    "LOCAL_TTL",
    "RECENT",
    "REMOTE_TTL",
    "TRAITS",
    "IdentityGraph",
    "Link",
    "ProfileCache",
    "ProfileState",
    "ProfileView",
    "Profiles",
    "TraitSpec",
    "anon_key",
    "check_trait",
    "consent_choices",
    "event_allows",
    "identity_owners",
    "is_pii",
    "links_of",
    "profile_id_for",
    "refusing_profiles",
    "user_key",
]
