"""Unified profiles: the real-time identity graph and the profile as a fold of events."""

from shopwise.profiles._cache import LOCAL_TTL, REMOTE_TTL, ProfileCache
from shopwise.profiles._identity import (
    IdentityGraph,
    Link,
    anon_key,
    profile_id_for,
    user_key,
)
from shopwise.profiles._service import CONSUMER, Profiles, ProfileView, links_of
from shopwise.profiles._state import (
    RECENT,
    ProfileState,
    latest,
    latest_traits,
    stated_choices,
    verified,
)
from shopwise.profiles._verify import IdentityVerifier, identity_secret, user_hash

__all__ = [
    "CONSUMER",
    "LOCAL_TTL",
    "RECENT",
    "REMOTE_TTL",
    "IdentityGraph",
    "IdentityVerifier",
    "Link",
    "ProfileCache",
    "ProfileState",
    "ProfileView",
    "Profiles",
    "anon_key",
    "identity_secret",
    "latest",
    "latest_traits",
    "links_of",
    "profile_id_for",
    "stated_choices",
    "user_hash",
    "user_key",
    "verified",
]
